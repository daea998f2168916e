// The web console (console/, docs/console.md): its files, bundled by esbuild at build time and
// compiled into the binary, and the answer to a request for one of them. Nothing is read from
// disk or fetched at run time.
//
//   GET /                     index.html (Cache-Control: no-cache: it names the current bundle)
//   GET /console/<name>       the bundle's files, whose names carry a hash of their content
//                             (app-1A2B3C4D.js): cacheable for a year
//
// The router answers these before it asks the authorizer: the page itself is public, and the
// console sends credentials with the API calls it makes (HTTP Basic) and in its MQTT CONNECT.
//
// Thread-safety: the assets are constants; console_response() is a pure function.
#pragma once
#include <string_view>

#include "http/request.h"

namespace mqbase::http {

struct ConsoleAsset {
  std::string_view path;          // "/" for index.html, "/console/app-1A2B3C4D.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view bytes;
  std::string_view gzip;          // the same bytes gzip-compressed; empty where that saves little
  bool immutable;                 // the name carries a content hash
};

// The asset served at `path`, or null. The pointer is to a constant that lives as long as the
// program. Defined by the generated console_assets_data.cpp (console/build.mjs).
const ConsoleAsset* find_console_asset(std::string_view path);

// Whether the router should hand `path` to console_response(): "/" and "/console/...".
inline bool is_console_path(std::string_view path) { return path == "/" || path.starts_with("/console/"); }

// The answer to a request for a console path: the asset (gzip-compressed when the client
// accepts it), 404 for an unknown name, 405 for a method other than GET.
Response console_response(const Request& r);

}  // namespace mqbase::http
