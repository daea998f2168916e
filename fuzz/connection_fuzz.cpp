// libFuzzer harness for the per-connection state machine: a broker::Client on an in-memory
// link, talking to a broker::Broker in memory (no store), fed arbitrary bytes as what one
// client sends. The bytes are framed and decoded the way net::Connection::process() does (the
// first framing or decoding error goes to the Client and ends the stream), and handed over in
// chunks at advancing times, so the keep-alive and connect deadlines and Broker::tick() run.
// A second, well-behaved client subscribed to "#" and "$share/g/#" acknowledges everything it
// gets, so routing, queues, backpressure and the QoS flows run; at the end a third connection
// takes the fuzzed client id over (MQTT 5, Clean Start 0) and gets what the session kept.
//
// Input: byte 0 picks the start (low 7 bits % 3 == 0: the bytes as they are; 1: a valid 3.1.1 CONNECT
// first; 2: a valid MQTT 5 CONNECT with properties first, so the fuzzer need not find one;
// bit 7: a session that outlives the connection); byte 1 the chunk size (1 + low 6 bits) and
// the time between chunks (high 2 bits: 0, 1, 10 or 100 s); the rest is the stream.
//
// Besides not crashing, leaking or tripping UBSan: every byte the server sends either client
// frames and decodes at that client's protocol version, and a framing or decoding error closes
// the connection.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "broker/broker.h"
#include "broker/client.h"
#include "mqtt/decoder.h"

using namespace mqbase;
using namespace std::chrono_literals;
using Clock = broker::Client::Clock;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

// What the server sends goes into a string; close and pause are flags the harness obeys as
// net::Connection would. Single-threaded, like the rest of the harness.
class MemoryLink : public broker::ClientLink {
 public:
  bool send(std::string_view bytes, broker::SendMode) override {
    if (closed) return false;
    out.append(bytes);
    return true;
  }
  void close() override { closed = true; }
  void pause_reading() override { paused = true; }
  void resume_reading() override { paused = false; }
  void request_writable_notice() override { writable_notice = true; }

  std::string out;
  bool closed = false;
  bool paused = false;
  bool writable_notice = false;
};

// One connection: its link, its Client, and the bytes it sent that do not make a whole
// packet yet.
struct Peer {
  Peer(broker::Broker& broker, Clock::time_point now)
      : link(std::make_shared<MemoryLink>()), client(broker, link, now), max_size(broker.limits().max_packet_size) {}

  // Appends `bytes` to what waits and handles the whole packets in it, in order, until the
  // connection closes or pauses. Returns the packets the server sent meanwhile.
  std::vector<mqtt::Packet> feed(std::string_view bytes, Clock::time_point now) {
    pending.append(bytes);
    size_t off = 0;
    while (off < pending.size() && !link->closed && !link->paused) {
      std::string_view in = std::string_view(pending).substr(off);
      mqtt::FixedHeader h;
      auto status = mqtt::parse_fixed_header(in, max_size, h);
      if (status == mqtt::FrameStatus::need_more) break;
      if (status == mqtt::FrameStatus::malformed) {
        client.on_decode_error({mqtt::ReasonCode::malformed_packet, "bad remaining length"});
        check(link->closed);
      } else if (status == mqtt::FrameStatus::too_large) {
        client.on_packet_too_large();
        check(link->closed);
      } else {
        mqtt::Packet packet;
        auto result = mqtt::decode_packet(h, in.substr(h.header_length, h.remaining_length), client.version(), packet);
        off += h.total();
        if (!result.ok()) {
          client.on_decode_error(result);
          check(link->closed);
        } else {
          client.on_packet(packet, now);
        }
      }
    }
    pending.erase(0, link->closed ? pending.size() : off);
    return sent();
  }

  // The packets the server sent since the last call. They view into `received`, valid until
  // the next call.
  std::vector<mqtt::Packet> sent() {
    received = std::exchange(link->out, {});
    std::vector<mqtt::Packet> out;
    std::string_view in(received);
    while (!in.empty()) {
      mqtt::FixedHeader h;
      check(mqtt::parse_fixed_header(in, mqtt::kMaxRemainingLength + 5, h) == mqtt::FrameStatus::ok);
      mqtt::Packet packet;
      check(mqtt::decode_packet(h, in.substr(h.header_length, h.remaining_length), client.version(), packet).ok());
      out.push_back(std::move(packet));
      in.remove_prefix(h.total());
    }
    return out;
  }

  // Acknowledges what the server sent, as a well-behaved client does, until it sends nothing
  // more to acknowledge.
  void acknowledge(Clock::time_point now) {
    std::vector<mqtt::Packet> got = sent();
    while (!got.empty() && !link->closed) {
      std::string acks;
      for (const auto& p : got) {
        if (const auto* pub = std::get_if<mqtt::Publish>(&p); pub && pub->qos > 0) {
          acks += static_cast<char>(pub->qos == 1 ? 0x40 : 0x50);
          acks += {'\x02', static_cast<char>(pub->packet_id >> 8), static_cast<char>(pub->packet_id & 0xff)};
        } else if (const auto* ack = std::get_if<mqtt::PubAck>(&p); ack && ack->type == mqtt::PacketType::pubrel) {
          acks += {'\x70', '\x02', static_cast<char>(ack->packet_id >> 8), static_cast<char>(ack->packet_id & 0xff)};
        }
      }
      got = feed(acks, now);
    }
  }

  // The connection is gone: net::Connection calls on_closed() exactly once.
  void end() {
    if (ended) return;
    ended = true;
    client.on_closed();
  }

  std::shared_ptr<MemoryLink> link;
  broker::Client client;
  uint32_t max_size;
  std::string pending;
  std::string received;
  bool ended = false;
};

// The well-behaved clients: MQTT 5, keep-alive 0.
constexpr std::string_view kObserverConnect("\x10\x15\x00\x04MQTT\x05\x02\x00\x00\x00\x00\x08observer", 23);
// SUBSCRIBE 1: "#" QoS 2, "$share/g/#" QoS 1, Subscription Identifier 7.
constexpr std::string_view kObserverSubscribe("\x82\x16\x00\x01\x02\x0b\x07\x00\x01#\x02\x00\x0a$share/g/#\x01", 24);
// Clean Start 0, Session Expiry 0: takes "fuzz" over, resumes its session, ends it.
constexpr std::string_view kHeirConnect("\x10\x11\x00\x04MQTT\x05\x00\x00\x00\x00\x00\x04" "fuzz", 19);

// The CONNECTs the fuzzer may start with (client id "fuzz", keep-alive 60 s), each in a
// clean and a persistent form.
constexpr std::string_view kConnect311[] = {
    {"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04" "fuzz", 18},
    {"\x10\x10\x00\x04MQTT\x04\x00\x00\x3c\x00\x04" "fuzz", 18},
};
// Receive Maximum 5, Topic Alias Maximum 10, Maximum Packet Size 4096, Request Problem
// Information 1; the persistent one adds Session Expiry Interval 600.
constexpr std::string_view kConnect5[] = {
    {"\x10\x1e\x00\x04MQTT\x05\x02\x00\x3c\x0d\x21\x00\x05\x22\x00\x0a\x27\x00\x00\x10\x00\x17\x01"
     "\x00\x04" "fuzz", 32},
    {"\x10\x23\x00\x04MQTT\x05\x00\x00\x3c\x12\x21\x00\x05\x22\x00\x0a\x27\x00\x00\x10\x00\x17\x01"
     "\x11\x00\x00\x02\x58\x00\x04" "fuzz", 37},
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const int start = (data[0] & 0x7f) % 3;
  const bool persistent = data[0] & 0x80;
  const size_t chunk = 1 + (data[1] & 0x3f);
  static constexpr std::chrono::seconds kSteps[] = {0s, 1s, 10s, 100s};
  const auto step = kSteps[data[1] >> 6];
  std::string stream = start == 1 ? std::string(kConnect311[persistent]) : start == 2 ? std::string(kConnect5[persistent]) : "";
  stream.append(reinterpret_cast<const char*>(data) + 2, size - 2);

  broker::Broker broker(broker::Limits{});
  auto now = Clock::now();
  Peer observer(broker, now);
  observer.feed(kObserverConnect, now);
  observer.feed(kObserverSubscribe, now);

  Peer fuzzed(broker, now);
  for (size_t pos = 0; pos < stream.size() && !fuzzed.link->closed; pos += chunk) {
    fuzzed.feed(std::string_view(stream).substr(pos, chunk), now);
    observer.acknowledge(now);
    if (!fuzzed.link->paused) fuzzed.feed({}, now);  // what waited behind a pause the acks lifted
    now += step;
    broker.tick(now);
    if (fuzzed.client.deadline_passed(now)) fuzzed.client.on_deadline();
    if (std::exchange(fuzzed.link->writable_notice, false)) fuzzed.client.on_writable();
    fuzzed.sent();
  }

  Peer heir(broker, now);
  heir.feed(kHeirConnect, now);
  heir.acknowledge(now);
  fuzzed.end();
  observer.acknowledge(now);
  heir.feed("\xe0\x00", now);
  observer.feed("\xe0\x00", now);
  heir.end();
  observer.end();
  broker.tick(now + 24h);
  return 0;
}
