// libFuzzer harness for the MQTT codec: arbitrary bytes through framing and decoding at
// every protocol level. Whatever decodes must re-encode to bytes that decode to the same
// packet. Nothing may crash, leak or read out of bounds (built with ASan+UBSan).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mqtt/decoder.h"
#include "mqtt/encoder.h"

using namespace mqbase::mqtt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (Version v : {Version::v31, Version::v311, Version::v5}) {
    std::string_view rest = in;
    while (!rest.empty()) {
      FixedHeader h;
      if (parse_fixed_header(rest, 1 << 20, h) != FrameStatus::ok) break;
      Packet p;
      auto body = rest.substr(h.header_length, h.remaining_length);
      rest.remove_prefix(h.total());
      if (!decode_packet(h, body, v, p).ok()) continue;
      Version ev = v;
      if (auto* c = std::get_if<Connect>(&p)) ev = c->version;
      std::string out;
      encode(p, ev, out);
      FixedHeader h2;
      if (parse_fixed_header(out, 1 << 21, h2) != FrameStatus::ok) std::abort();
      Packet p2;
      if (!decode_packet(h2, std::string_view(out).substr(h2.header_length), ev, p2).ok()) std::abort();
      if (!(p == p2)) std::abort();
    }
  }
  return 0;
}
