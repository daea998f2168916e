// UTF-8 validation as MQTT requires for every string field ([MQTT-1.5.3-1..3]).
// Pure function, safe from any thread.
#pragma once
#include <string_view>

namespace mqbase::mqtt {

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates U+D800..U+DFFF, nothing
// above U+10FFFF) and contains no U+0000.
bool valid_utf8(std::string_view s);

}  // namespace mqbase::mqtt
