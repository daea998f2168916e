// GzipEncoder: gzip (RFC 1952) compression of an answer as it streams (compress=gzip on
// /db/query): bytes go in piece by piece and compressed bytes come out, so a large answer is
// never held whole.
//
// Thread-safety: one encoder per answer, used by one thread at a time.
#pragma once
#include <memory>
#include <string>
#include <string_view>

namespace mqbase::http {

class GzipEncoder {
 public:
  GzipEncoder();  // level 6 (zlib's default); throws std::bad_alloc when zlib cannot start
  ~GzipEncoder();
  GzipEncoder(const GzipEncoder&) = delete;
  GzipEncoder& operator=(const GzipEncoder&) = delete;

  // Compresses `in`, appending what zlib has ready to *out (often nothing for small inputs).
  void write(std::string_view in, std::string* out);
  // Appends the rest and the gzip trailer. Call once, last.
  void finish(std::string* out);

  // The whole of `in` as one gzip member.
  static std::string compress(std::string_view in);

 private:
  struct Z;
  std::unique_ptr<Z> z_;
};

}  // namespace mqbase::http
