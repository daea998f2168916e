// WebSocketTransport without sockets: the upgrade and its refusals, client frames in any split,
// the protocol errors and their close codes, and the framing of what the server sends.
#include "net/websocket.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace mqbase::net {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr uint8_t kFin = 0x80;
constexpr uint8_t kContinuation = 0x0, kText = 0x1, kBinary = 0x2, kClose = 0x8, kPing = 0x9, kPong = 0xA;
constexpr std::array<uint8_t, 4> kKey = {0x37, 0xFA, 0x21, 0x3D};
constexpr std::string_view kSampleKey = "dGhlIHNhbXBsZSBub25jZQ==";

// A client frame: `first` is the FIN/RSV/opcode byte; the payload is masked with `key` unless
// `masked` is false; the length takes the shortest encoding.
std::string client_frame(uint8_t first, std::string_view payload, std::array<uint8_t, 4> key = kKey,
                         bool masked = true) {
  std::string f(1, static_cast<char>(first));
  uint8_t mask_bit = masked ? 0x80 : 0;
  uint64_t n = payload.size();
  if (n <= 125) {
    f += static_cast<char>(mask_bit | n);
  } else if (n <= 0xFFFF) {
    f += static_cast<char>(mask_bit | 126);
    f += static_cast<char>(n >> 8);
    f += static_cast<char>(n);
  } else {
    f += static_cast<char>(mask_bit | 127);
    for (int i = 7; i >= 0; --i) f += static_cast<char>(n >> (8 * i));
  }
  if (masked) f.append(reinterpret_cast<const char*>(key.data()), 4);
  for (size_t i = 0; i < payload.size(); ++i)
    f += masked ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i];
  return f;
}

std::string binary_frame(std::string_view payload) { return client_frame(kFin | kBinary, payload); }

std::string close_payload(uint16_t code) {
  return {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
}

struct ServerFrame {
  uint8_t first = 0;  // FIN, RSV, opcode
  std::string payload;
};

// Splits what the server sent into frames; fails the test on a masked or truncated one.
std::vector<ServerFrame> server_frames(std::string_view wire) {
  std::vector<ServerFrame> frames;
  while (!wire.empty()) {
    EXPECT_GE(wire.size(), 2u);
    if (wire.size() < 2) break;
    ServerFrame f;
    f.first = static_cast<uint8_t>(wire[0]);
    EXPECT_EQ(static_cast<uint8_t>(wire[1]) & 0x80, 0) << "server frames are never masked";
    uint64_t n = static_cast<uint8_t>(wire[1]) & 0x7F;
    size_t at = 2;
    if (n >= 126) {
      size_t bytes = n == 126 ? 2 : 8;
      n = 0;
      for (size_t i = 0; i < bytes; ++i) n = n << 8 | static_cast<uint8_t>(wire[at + i]);
      at += bytes;
    }
    EXPECT_GE(wire.size(), at + n);
    if (wire.size() < at + n) break;
    f.payload = std::string(wire.substr(at, n));
    wire.remove_prefix(at + n);
    frames.push_back(std::move(f));
  }
  return frames;
}

// The status code of the one frame in `wire`, which must be a close; -1 otherwise.
int close_code(std::string_view wire) {
  auto frames = server_frames(wire);
  if (frames.size() != 1 || frames[0].first != (kFin | kClose) || frames[0].payload.size() != 2) return -1;
  return static_cast<uint8_t>(frames[0].payload[0]) << 8 | static_cast<uint8_t>(frames[0].payload[1]);
}

std::string upgrade_request(std::string_view extra_fields = "", std::string_view request_line = "GET /mqtt HTTP/1.1") {
  std::string r(request_line);
  r += "\r\nHost: broker.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
  r += kSampleKey;
  r += "\r\nSec-WebSocket-Version: 13\r\n";
  r += extra_fields;
  r += "\r\n";
  return r;
}

std::string_view response_head(std::string_view wire) { return wire.substr(0, wire.find("\r\n\r\n") + 4); }

// Feeds `in` in one call; returns what on_wire returned.
struct Fed {
  bool ok;
  std::string app, wire;
};
Fed feed(WebSocketTransport& t, std::string_view in) {
  Fed f;
  f.ok = t.on_wire(in, f.app, f.wire);
  return f;
}
Fed feed_bytewise(WebSocketTransport& t, std::string_view in) {
  Fed f{true, {}, {}};
  for (char c : in) f.ok = t.on_wire(std::string_view(&c, 1), f.app, f.wire);
  return f;
}

// --- The upgrade ----------------------------------------------------------------------------

TEST(WebSocketUpgrade, AcceptKeyIsTheRfc6455Sample) {
  EXPECT_EQ(WebSocketTransport::accept_key(kSampleKey), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketUpgrade, ResponseSelectsMqttSubprotocol) {
  auto r = WebSocketTransport::upgrade_response(kSampleKey, "mqtt");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n");
}

TEST(WebSocketUpgrade, SubprotocolSelection) {
  auto protocol_of = [](std::string_view offered) -> std::string {
    auto r = WebSocketTransport::upgrade_response(kSampleKey, offered);
    if (!r) return "<refused>";
    size_t at = r->find("Sec-WebSocket-Protocol: ");
    if (at == std::string::npos) return "<none>";
    at += 24;
    return r->substr(at, r->find("\r\n", at) - at);
  };
  EXPECT_EQ(protocol_of("mqtt"), "mqtt");
  EXPECT_EQ(protocol_of("mqttv3.1"), "mqttv3.1");
  EXPECT_EQ(protocol_of("mqttv3.1, mqtt"), "mqtt");
  EXPECT_EQ(protocol_of("wamp,  mqttv3.1 "), "mqttv3.1");
  EXPECT_EQ(protocol_of("wamp"), "<none>");
  EXPECT_EQ(protocol_of(""), "<none>");
  EXPECT_EQ(protocol_of("mqttx, xmqtt"), "<none>");
}

TEST(WebSocketUpgrade, ResponseRefusesAKeyThatIsNot16Bytes) {
  std::string error;
  EXPECT_FALSE(WebSocketTransport::upgrade_response("", "mqtt", &error));
  EXPECT_THAT(error, HasSubstr("Sec-WebSocket-Key"));
  EXPECT_FALSE(WebSocketTransport::upgrade_response("dGhlIHNhbXBsZSBub25jZQ", "", &error));     // unpadded
  EXPECT_FALSE(WebSocketTransport::upgrade_response("dGhlIHNhbXBsZSBub25jZXg=", "", &error));   // 17 bytes
  EXPECT_FALSE(WebSocketTransport::upgrade_response("dGhlIHNhbXBsZSBub2!jZQ==", "", &error));   // not base64
  EXPECT_TRUE(WebSocketTransport::upgrade_response(kSampleKey, "", nullptr));
}

TEST(WebSocketUpgrade, ListenerAnswersTheRequest) {
  WebSocketTransport t;
  Fed f = feed(t, upgrade_request("Sec-WebSocket-Protocol: mqtt\r\n"));
  EXPECT_TRUE(f.ok);
  EXPECT_TRUE(f.app.empty());
  EXPECT_EQ(f.wire, *WebSocketTransport::upgrade_response(kSampleKey, "mqtt"));
  EXPECT_EQ(t.name(), "ws");
  EXPECT_EQ(t.error(), "");
}

TEST(WebSocketUpgrade, FieldNamesAndTokensAreCaseInsensitive) {
  WebSocketTransport t;
  Fed f = feed(t,
               "GET /mqtt?client=1 HTTP/1.1\r\nhost: x\r\nUPGRADE: WebSocket\r\nconnection: keep-alive, Upgrade\r\n"
               "sec-websocket-key:dGhlIHNhbXBsZSBub25jZQ==\r\nSEC-WEBSOCKET-VERSION:  13 \r\n"
               "sec-websocket-protocol: mqttv3.1\r\n\r\n");
  EXPECT_TRUE(f.ok) << f.wire;
  EXPECT_EQ(f.wire, *WebSocketTransport::upgrade_response(kSampleKey, "mqttv3.1"));
}

TEST(WebSocketUpgrade, HeadSplitAtEveryByteAndFramesInTheSameRead) {
  std::string in = upgrade_request() + binary_frame("CONNECT") + client_frame(kFin | kPing, "p");
  WebSocketTransport whole, bytewise;
  Fed a = feed(whole, in), b = feed_bytewise(bytewise, in);
  EXPECT_TRUE(a.ok);
  EXPECT_TRUE(b.ok);
  EXPECT_EQ(a.app, "CONNECT");
  EXPECT_EQ(b.app, "CONNECT");
  EXPECT_EQ(a.wire, b.wire);
  std::string_view head = response_head(a.wire);
  EXPECT_THAT(std::string(head), StartsWith("HTTP/1.1 101 "));
  auto frames = server_frames(std::string_view(a.wire).substr(head.size()));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].first, kFin | kPong);
  EXPECT_EQ(frames[0].payload, "p");
}

TEST(WebSocketUpgrade, AnyPathWhenThePathIsEmpty) {
  WebSocketTransport t(WebSocketTransport::Start::http_upgrade, "");
  EXPECT_TRUE(feed(t, upgrade_request("", "GET /anything/else HTTP/1.1")).ok);
}

struct Refusal {
  const char* name;
  std::string request;
  int status;
  const char* why;  // in the body and in error()
};

void PrintTo(const Refusal& r, std::ostream* os) { *os << r.name; }

class WebSocketRefusal : public ::testing::TestWithParam<Refusal> {};

TEST_P(WebSocketRefusal, AnswersWithACompleteHttpErrorAndFails) {
  const Refusal& r = GetParam();
  WebSocketTransport t;
  Fed f = feed(t, r.request);
  EXPECT_FALSE(f.ok);
  EXPECT_TRUE(f.app.empty());
  EXPECT_THAT(f.wire, StartsWith("HTTP/1.1 " + std::to_string(r.status) + " "));
  EXPECT_THAT(f.wire, HasSubstr("\r\nConnection: close\r\n"));
  std::string_view head = response_head(f.wire);
  std::string body = f.wire.substr(head.size());
  EXPECT_THAT(std::string(head), HasSubstr("Content-Length: " + std::to_string(body.size()) + "\r\n"));
  EXPECT_THAT(body, HasSubstr(r.why));
  EXPECT_THAT(t.error(), HasSubstr(r.why));
  if (r.status == 426) {
    EXPECT_THAT(std::string(head), HasSubstr("\r\nSec-WebSocket-Version: 13\r\n"));
  }
  // Nothing more is read, and no WebSocket close follows an HTTP refusal.
  Fed after = feed(t, binary_frame("x"));
  EXPECT_FALSE(after.ok);
  EXPECT_TRUE(after.app.empty());
  EXPECT_TRUE(after.wire.empty());
  std::string goodbye;
  t.on_close(goodbye);
  EXPECT_TRUE(goodbye.empty());
}

std::string without_field(std::string request, std::string_view field) {
  size_t at = request.find(field);
  request.erase(at, request.find("\r\n", at) + 2 - at);
  return request;
}

std::string replaced(std::string request, std::string_view from, std::string_view to) {
  return request.replace(request.find(from), from.size(), to);
}

INSTANTIATE_TEST_SUITE_P(
    Requests, WebSocketRefusal,
    ::testing::Values(
        Refusal{"MissingKey", without_field(upgrade_request(), "Sec-WebSocket-Key"), 400, "Sec-WebSocket-Key"},
        Refusal{"ShortKey", "GET /mqtt HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n",
                400, "Sec-WebSocket-Key"},
        Refusal{"TwoKeys", upgrade_request("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"), 400,
                "Sec-WebSocket-Key"},
        Refusal{"NoVersion", without_field(upgrade_request(), "Sec-WebSocket-Version"), 426, "version 13"},
        Refusal{"Version8", replaced(upgrade_request(), "Version: 13", "Version: 8"), 426, "version 13"},
        Refusal{"WrongPath", upgrade_request("", "GET /ws HTTP/1.1"), 404, "/mqtt"},
        Refusal{"Post", upgrade_request("", "POST /mqtt HTTP/1.1"), 405, "GET"},
        Refusal{"Http10", upgrade_request("", "GET /mqtt HTTP/1.0"), 400, "HTTP/1.1"},
        Refusal{"MalformedRequestLine", upgrade_request("", "GET  /mqtt HTTP/1.1"), 400, "request line"},
        Refusal{"MalformedField", upgrade_request(" folded: value\r\n"), 400, "header line"},
        Refusal{"NoUpgrade", without_field(upgrade_request(), "Upgrade: websocket"), 400, "Upgrade: websocket"},
        Refusal{"NoConnectionUpgrade", without_field(upgrade_request(), "Connection: Upgrade"), 400,
                "Connection: Upgrade"},
        Refusal{"OversizedHead", upgrade_request("X-Filler: " + std::string(9000, 'a') + "\r\n"), 431, "8192"}),
    [](const ::testing::TestParamInfo<Refusal>& info) { return info.param.name; });

TEST(WebSocketUpgrade, OversizedHeadFailsWithoutWaitingForItsEnd) {
  WebSocketTransport t;
  std::string in = "GET /mqtt HTTP/1.1\r\nX-Filler: " + std::string(WebSocketTransport::kMaxRequestHead, 'a');
  Fed f = feed_bytewise(t, in);
  EXPECT_FALSE(f.ok);
  EXPECT_THAT(f.wire, StartsWith("HTTP/1.1 431 "));
}

TEST(WebSocketUpgrade, HeadOfExactlyTheLimitIsAccepted) {
  std::string request = upgrade_request("X-Filler: \r\n");
  size_t filler = WebSocketTransport::kMaxRequestHead - request.size();
  request.insert(request.find("X-Filler: ") + 10, std::string(filler, 'a'));
  ASSERT_EQ(request.size(), WebSocketTransport::kMaxRequestHead);
  WebSocketTransport t;
  EXPECT_TRUE(feed_bytewise(t, request).ok);
}

// --- Frames from the client -----------------------------------------------------------------

TEST(WebSocketFrames, OneByteAtATimeGivesWhatOneReadGives) {
  const std::string connect_start("\x10\x0c\x00\x04MQTT", 8);
  std::string in = binary_frame(connect_start) + binary_frame(std::string(300, 'x')) +
                   client_frame(kFin | kPing, "ping!", {1, 2, 3, 4}) + binary_frame("tail") +
                   client_frame(kBinary, "ab", {9, 8, 7, 6}) + client_frame(kFin | kContinuation, "cde", {5, 5, 5, 5});
  WebSocketTransport whole(WebSocketTransport::Start::upgraded), bytewise(WebSocketTransport::Start::upgraded);
  Fed a = feed(whole, in), b = feed_bytewise(bytewise, in);
  EXPECT_TRUE(a.ok);
  EXPECT_TRUE(b.ok);
  EXPECT_EQ(a.app, connect_start + std::string(300, 'x') + "tail" + "abcde");
  EXPECT_EQ(b.app, a.app);
  EXPECT_EQ(b.wire, a.wire);
  EXPECT_EQ(a.wire, std::string("\x8A\x05ping!"));
}

TEST(WebSocketFrames, EverySplitOfTheInputGivesTheSameBytes) {
  std::string in = binary_frame("0123456789abcdefghij") + binary_frame(std::string(200, 'q'));
  WebSocketTransport reference(WebSocketTransport::Start::upgraded);
  std::string expected = feed(reference, in).app;
  for (size_t split = 0; split <= in.size(); ++split) {
    WebSocketTransport t(WebSocketTransport::Start::upgraded);
    Fed f = feed(t, std::string_view(in).substr(0, split));
    Fed g = feed(t, std::string_view(in).substr(split));
    EXPECT_TRUE(f.ok && g.ok);
    EXPECT_EQ(f.app + g.app, expected) << "split at " << split;
  }
}

TEST(WebSocketFrames, PayloadLengthsOf7_16And64Bits) {
  for (size_t n : {0u, 1u, 125u, 126u, 127u, 65535u, 65536u, 100000u}) {
    std::string payload(n, '\0');
    for (size_t i = 0; i < n; ++i) payload[i] = static_cast<char>(i * 7 + 3);
    WebSocketTransport t(WebSocketTransport::Start::upgraded);
    Fed f = feed(t, binary_frame(payload));
    EXPECT_TRUE(f.ok) << n;
    EXPECT_EQ(f.app, payload) << n;
    EXPECT_TRUE(f.wire.empty());
  }
}

TEST(WebSocketFrames, NonMinimalLengthEncodingIsAccepted) {
  std::string frame = {static_cast<char>(kFin | kBinary), static_cast<char>(0x80 | 126), 0, 3, 0, 0, 0, 0};
  frame += "abc";
  WebSocketTransport t(WebSocketTransport::Start::upgraded);
  Fed f = feed(t, frame);
  EXPECT_TRUE(f.ok);
  EXPECT_EQ(f.app, "abc");
}

TEST(WebSocketFrames, FragmentedMessageWithAPingBetweenItsFragments) {
  std::string in = client_frame(kBinary, "ab") + client_frame(kFin | kPing, "are you there") +
                   client_frame(kContinuation, "cd") + client_frame(kFin | kPong, "unsolicited") +
                   client_frame(kFin | kContinuation, "ef") + binary_frame("gh");
  WebSocketTransport t(WebSocketTransport::Start::upgraded);
  Fed f = feed(t, in);
  EXPECT_TRUE(f.ok);
  EXPECT_EQ(f.app, "abcdefgh");
  auto frames = server_frames(f.wire);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].first, kFin | kPong);
  EXPECT_EQ(frames[0].payload, "are you there");
}

TEST(WebSocketFrames, PayloadStreamsOutBeforeTheFrameIsWhole) {
  std::string frame = binary_frame(std::string(1000, 'z'));
  WebSocketTransport t(WebSocketTransport::Start::upgraded);
  Fed f = feed(t, std::string_view(frame).substr(0, 8 + 10));  // 4-byte header, 4-byte key, 10 bytes
  EXPECT_TRUE(f.ok);
  EXPECT_EQ(f.app, std::string(10, 'z'));
}

struct Violation {
  const char* name;
  std::string frames;
  int code;
  const char* why;
};

void PrintTo(const Violation& v, std::ostream* os) { *os << v.name; }

class WebSocketViolation : public ::testing::TestWithParam<Violation> {};

TEST_P(WebSocketViolation, ClosesWithTheRightCodeAndFails) {
  const Violation& v = GetParam();
  WebSocketTransport t(WebSocketTransport::Start::upgraded, "/mqtt", 1000);
  Fed f = feed(t, binary_frame("ok") + v.frames);
  EXPECT_FALSE(f.ok);
  EXPECT_THAT(f.app, StartsWith("ok"));  // and what the bad frame's predecessors carried
  EXPECT_EQ(close_code(f.wire), v.code) << f.wire;
  EXPECT_THAT(t.error(), StartsWith("WebSocket: "));
  EXPECT_THAT(t.error(), HasSubstr(v.why));
  // After the close nothing is read or sent.
  Fed after = feed(t, binary_frame("more"));
  EXPECT_FALSE(after.ok);
  EXPECT_TRUE(after.app.empty());
  EXPECT_TRUE(after.wire.empty());
  std::string out;
  t.on_app("late", out);
  t.on_close(out);
  EXPECT_TRUE(out.empty());
}

std::string raw(std::initializer_list<uint8_t> bytes) { return std::string(bytes.begin(), bytes.end()); }

INSTANTIATE_TEST_SUITE_P(
    Frames, WebSocketViolation,
    ::testing::Values(
        Violation{"Unmasked", client_frame(kFin | kBinary, "x", kKey, false), 1002, "unmasked client frame"},
        Violation{"Text", client_frame(kFin | kText, "{}"), 1003, "text frame"},
        Violation{"Rsv1", client_frame(kFin | 0x40 | kBinary, "x"), 1002, "reserved bits"},
        Violation{"Rsv3", client_frame(kFin | 0x10 | kPing, ""), 1002, "reserved bits"},
        Violation{"Opcode3", client_frame(kFin | 0x3, "x"), 1002, "unknown opcode 3"},
        Violation{"OpcodeB", client_frame(kFin | 0xB, ""), 1002, "unknown opcode 11"},
        Violation{"ControlOver125", client_frame(kFin | kPing, std::string(126, 'p')), 1002, "over 125 bytes"},
        Violation{"FragmentedPing", client_frame(kPing, "p"), 1002, "fragmented control frame"},
        Violation{"LoneContinuation", client_frame(kFin | kContinuation, "x"), 1002, "continuation frame"},
        Violation{"DataInsideMessage", client_frame(kBinary, "a") + binary_frame("b"), 1002,
                  "fragmented message is open"},
        Violation{"LengthTopBit", raw({kFin | kBinary, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}), 1002,
                  "top bit"},
        Violation{"OverMaxPayload", client_frame(kFin | kBinary, std::string(1001, 'b')), 1009, "over the limit"},
        Violation{"CloseWithOneByte", client_frame(kFin | kClose, "x"), 1002, "1-byte payload"},
        Violation{"CloseWith1005", client_frame(kFin | kClose, close_payload(1005)), 1002, "invalid code 1005"}),
    [](const ::testing::TestParamInfo<Violation>& info) { return info.param.name; });

TEST(WebSocketFrames, ViolationFailsAsSoonAsTheFirstTwoBytesAreIn) {
  WebSocketTransport t(WebSocketTransport::Start::upgraded);
  Fed f = feed(t, client_frame(kFin | kBinary, "x", kKey, false).substr(0, 2));
  EXPECT_FALSE(f.ok);
  EXPECT_EQ(close_code(f.wire), 1002);
}

TEST(WebSocketClose, EchoesTheClientsStatusCode) {
  WebSocketTransport t(WebSocketTransport::Start::upgraded);
  Fed f = feed(t, binary_frame("last") + client_frame(kFin | kClose, close_payload(1001) + "going away") +
                      binary_frame("ignored"));
  EXPECT_FALSE(f.ok);
  EXPECT_EQ(t.error(), "");
  EXPECT_EQ(f.app, "last");
  EXPECT_EQ(close_code(f.wire), 1001);
  std::string out;
  t.on_close(out);  // the close was sent already
  EXPECT_TRUE(out.empty());
}

TEST(WebSocketClose, EmptyCloseIsAnsweredWith1000) {
  WebSocketTransport t(WebSocketTransport::Start::upgraded);
  Fed f = feed_bytewise(t, client_frame(kFin | kClose, ""));
  EXPECT_FALSE(f.ok);
  EXPECT_EQ(t.error(), "");
  EXPECT_EQ(close_code(f.wire), 1000);
}

TEST(WebSocketClose, OnCloseSends1000Once) {
  WebSocketTransport t(WebSocketTransport::Start::upgraded);
  std::string wire;
  t.on_close(wire);
  EXPECT_EQ(close_code(wire), 1000);
  std::string after;
  t.on_app("x", after);
  EXPECT_TRUE(after.empty());
  EXPECT_FALSE(feed(t, binary_frame("x")).ok);
}

TEST(WebSocketClose, NothingBeforeTheHandshake) {
  WebSocketTransport t;
  std::string wire;
  t.on_app("held", wire);
  t.on_close(wire);
  EXPECT_TRUE(wire.empty());
}

// --- Frames to the client -------------------------------------------------------------------

TEST(WebSocketSend, OneBinaryFramePerCallWithTheShortestLength) {
  struct Case {
    size_t n;
    size_t header;
  };
  for (Case c : {Case{125, 2}, Case{126, 4}, Case{65535, 4}, Case{65536, 10}}) {
    std::string payload(c.n, 'm');
    WebSocketTransport t(WebSocketTransport::Start::upgraded);
    std::string wire;
    t.on_app(payload, wire);
    ASSERT_EQ(wire.size(), c.header + c.n) << c.n;
    EXPECT_EQ(static_cast<uint8_t>(wire[0]), kFin | kBinary);
    auto frames = server_frames(wire);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].payload, payload);
  }
  std::string exact_header;
  WebSocketTransport t(WebSocketTransport::Start::upgraded);
  t.on_app(std::string(65536, 'm'), exact_header);
  EXPECT_EQ(exact_header.substr(0, 10), raw({0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}));
}

TEST(WebSocketSend, NothingForNoBytes) {
  WebSocketTransport t(WebSocketTransport::Start::upgraded);
  std::string wire;
  t.on_app("", wire);
  EXPECT_TRUE(wire.empty());
}

TEST(WebSocketSend, BytesBeforeTheHandshakeAreHeldThenFramed) {
  WebSocketTransport t;
  std::string early;
  t.on_app("CONNACK", early);
  t.on_app("+more", early);
  EXPECT_TRUE(early.empty());
  Fed f = feed(t, upgrade_request());
  ASSERT_TRUE(f.ok);
  std::string_view head = response_head(f.wire);
  EXPECT_THAT(std::string(head), StartsWith("HTTP/1.1 101 "));
  auto frames = server_frames(std::string_view(f.wire).substr(head.size()));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].payload, "CONNACK+more");
  std::string later;
  t.on_app("x", later);
  EXPECT_EQ(later, "\x82\x01x");
}

}  // namespace
}  // namespace mqbase::net
