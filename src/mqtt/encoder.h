// Encoding MQTT packets to bytes, appended to a std::string. Pure functions, safe from any
// thread. The caller is responsible for the packet being valid for `version` (the decoder is
// the validator; the encoder trusts its input).
#pragma once
#include <string>
#include <string_view>

#include "mqtt/packet.h"
#include "mqtt/types.h"

namespace mqbase::mqtt {

void encode(const Packet& p, Version version, std::string& out);

// The hot path: a PUBLISH from its parts without building a Publish struct.
void encode_publish(std::string& out, Version version, std::string_view topic, std::string_view payload,
                    uint8_t qos, bool retain, bool dup, uint16_t packet_id, const Properties* props = nullptr);

// Encoded size of a PUBLISH with these parts (to check a peer's Maximum Packet Size).
size_t publish_size(Version version, std::string_view topic, size_t payload_size, uint8_t qos,
                    const Properties* props = nullptr);

}  // namespace mqbase::mqtt
