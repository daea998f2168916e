// WebSocketTransport: the server side of RFC 6455 under MQTT over WebSocket ("ws", and "wss"
// as the inner half of a ChainTransport over TLS). It answers the HTTP upgrade, takes the
// client's masked frames apart and streams their payload out as MQTT bytes, and wraps the
// broker's MQTT bytes in binary frames. The MQTT decoder above it reassembles packets: a packet
// may span frames and a frame may hold several packets, so only bytes cross this boundary.
//
// Two ways in:
//  - A WebSocket listener: construct with Start::http_upgrade. The first bytes read are the
//    HTTP request head; on_wire answers it (101, or an HTTP error and false).
//  - The HTTP server has already read `GET /mqtt` with an upgrade and hands the socket over:
//    answer with upgrade_response() (or reject_response()), write that, construct with
//    Start::upgraded, and feed the bytes the HTTP server read past the request to on_wire first.
//
// The client's frames must be masked, binary (text frames close with 1003, [MQTT-6.0.0-1]) and
// carry no extension bits; pings get pongs, a close gets its status code echoed. Any breach of
// the protocol appends a close frame with its status code to `wire`, sets error() and makes
// on_wire return false; after a close, either way, further input is ignored.
// Thread-safety: none. A transport belongs to one connection and is used on its loop only.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net/transport.h"

namespace mqbase::net {

class WebSocketTransport final : public Transport {
 public:
  enum class Start {
    http_upgrade,  // the request head comes first, through on_wire
    upgraded,      // the 101 has been sent by whoever read the request: frames from the start
  };
  // The largest MQTT packet (1 + 4 + 268435455 bytes) and room for a few small ones a client
  // coalesced into the same frame. A larger frame closes with 1009.
  static constexpr uint64_t kDefaultMaxFramePayload = 268'435'460 + 1'048'576;
  // The request head, request line and "\r\n\r\n" included; a longer one is answered with 431.
  static constexpr size_t kMaxRequestHead = 8192;

  // `path`: the request target the upgrade must ask for (its query string aside); "" accepts
  // any. `max_frame_payload`: the largest frame payload accepted.
  explicit WebSocketTransport(Start start = Start::http_upgrade, std::string path = "/mqtt",
                              uint64_t max_frame_payload = kDefaultMaxFramePayload);
  WebSocketTransport(const WebSocketTransport&) = delete;
  WebSocketTransport& operator=(const WebSocketTransport&) = delete;

  bool on_wire(std::string_view in, std::string& app, std::string& wire) override;
  // One binary frame per call (FIN set, unmasked); nothing for empty `app` or after a close.
  void on_app(std::string_view app, std::string& wire) override;
  // Close 1000, unless a close frame was sent already or the handshake never completed.
  void on_close(std::string& wire) override;
  std::string_view name() const override { return "ws"; }
  std::string error() const override { return error_; }

  // The complete "101 Switching Protocols" response to an upgrade whose Sec-WebSocket-Key is
  // `key` and whose Sec-WebSocket-Protocol is `offered_protocols` ("" when absent): it selects
  // "mqtt", else "mqttv3.1", else no subprotocol. nullopt, with *error (if given) saying why,
  // when `key` is not 16 bytes in base64: answer reject_response(400, *error) then. The caller
  // checks the method, path, Upgrade, Connection and Sec-WebSocket-Version (13, else 426).
  static std::optional<std::string> upgrade_response(std::string_view key, std::string_view offered_protocols,
                                                     std::string* error = nullptr);
  // A complete HTTP error response closing the connection, `why` as its text body; a 426 also
  // names the version spoken (Sec-WebSocket-Version: 13), a 405 the method (Allow: GET).
  static std::string reject_response(int status, std::string_view why);
  // Sec-WebSocket-Accept for `key`: base64(SHA-1(key + the RFC 6455 GUID)).
  static std::string accept_key(std::string_view key);

 private:
  enum class Phase { http_head, frame_header, frame_payload, closed };

  bool read_request_head(std::string_view& in, std::string& wire);
  bool answer_request(std::string_view head, std::string& wire);
  bool reject(int status, std::string why, std::string& wire);
  bool read_frame_header(std::string_view& in, std::string& wire);
  bool check_frame_start(std::string& wire);
  bool begin_payload(std::string& wire);
  void read_payload(std::string_view& in, std::string& app);
  bool finish_frame(std::string& wire);
  bool on_close_frame(std::string& wire);
  bool fail(uint16_t code, std::string why, std::string& wire);
  void send_close(uint16_t code, std::string& wire);

  Phase phase_;
  std::string path_;
  uint64_t max_frame_payload_;
  std::string head_;         // the request head so far (Phase::http_head)
  std::string pending_app_;  // on_app bytes given before the handshake completed
  bool handshake_done_;
  bool close_sent_ = false;
  bool message_open_ = false;  // a fragmented data message awaits its continuation frames
  std::string error_;

  // The frame being read.
  std::array<uint8_t, 14> header_{};
  size_t header_have_ = 0;
  size_t header_need_ = 2;
  uint8_t opcode_ = 0;
  bool fin_ = false;
  uint64_t payload_left_ = 0;
  std::array<uint8_t, 4> mask_{};
  size_t mask_pos_ = 0;  // where in mask_ the next payload byte's key is
  std::array<char, 125> control_{};
  size_t control_len_ = 0;
};

}  // namespace mqbase::net
