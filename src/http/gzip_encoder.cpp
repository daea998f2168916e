#include "http/gzip_encoder.h"

#include <zlib.h>

#include <new>

namespace mqbase::http {

struct GzipEncoder::Z {
  z_stream s{};
};

GzipEncoder::GzipEncoder() : z_(std::make_unique<Z>()) {
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&z_->s, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw std::bad_alloc();
}

GzipEncoder::~GzipEncoder() { deflateEnd(&z_->s); }

namespace {

void run(z_stream& s, std::string_view in, int flush, std::string* out) {
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  s.avail_in = static_cast<uInt>(in.size());
  char buf[32768];
  while (true) {
    s.next_out = reinterpret_cast<Bytef*>(buf);
    s.avail_out = sizeof buf;
    int rc = deflate(&s, flush);
    out->append(buf, sizeof buf - s.avail_out);
    if (rc == Z_STREAM_END) return;
    // Done when zlib took all the input and had room to spare (Z_BUF_ERROR: nothing to do).
    if (s.avail_out != 0 && s.avail_in == 0 && flush != Z_FINISH) return;
    if (rc != Z_OK && rc != Z_BUF_ERROR) return;
  }
}

}  // namespace

void GzipEncoder::write(std::string_view in, std::string* out) {
  // deflate takes at most 4 GiB at a time (uInt).
  while (!in.empty()) {
    std::string_view piece = in.substr(0, 1u << 30);
    run(z_->s, piece, Z_NO_FLUSH, out);
    in.remove_prefix(piece.size());
  }
}

void GzipEncoder::finish(std::string* out) { run(z_->s, {}, Z_FINISH, out); }

std::string GzipEncoder::compress(std::string_view in) {
  GzipEncoder e;
  std::string out;
  e.write(in, &out);
  e.finish(&out);
  return out;
}

}  // namespace mqbase::http
