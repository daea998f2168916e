// libFuzzer harness for the WebSocket transport (net/websocket.h): arbitrary bytes as what a
// client sends, in both ways in (the HTTP upgrade first, or frames from the start). The first
// two bytes of the input choose where the rest is cut in two reads. Besides not crashing:
// the MQTT bytes out never outnumber the bytes in, and two reads give exactly what one read
// gives (app bytes, bytes sent, the verdict and the error).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "net/websocket.h"

using mqbase::net::WebSocketTransport;

namespace {

struct Outcome {
  bool ok = true;
  std::string app, wire, error;
};

void check(bool condition) {
  if (!condition) std::abort();
}

// Feeds `in` in the reads `parts`, with MQTT bytes sent before and after, then closes.
template <size_t N>
Outcome run(WebSocketTransport::Start start, const std::string_view (&parts)[N]) {
  WebSocketTransport t(start, "/mqtt", 1 << 16);
  Outcome o;
  t.on_app("early", o.wire);
  size_t in = 0;
  for (std::string_view part : parts) {
    o.ok = t.on_wire(part, o.app, o.wire);
    in += part.size();
    check(o.app.size() <= in);
  }
  t.on_app("late", o.wire);
  t.on_close(o.wire);
  o.error = t.error();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  size_t cut = (size_t{data[0]} << 8 | data[1]) % (in.size() + 1);
  const std::string_view whole[] = {in};
  const std::string_view halves[] = {in.substr(0, cut), in.substr(cut)};
  for (auto start : {WebSocketTransport::Start::http_upgrade, WebSocketTransport::Start::upgraded}) {
    Outcome one = run(start, whole), two = run(start, halves);
    check(one.ok == two.ok && one.app == two.app && one.wire == two.wire && one.error == two.error);
  }
  return 0;
}
