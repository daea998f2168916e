#include "net/websocket.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>

namespace mqbase::net {
namespace {

enum Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// Close status codes (RFC 6455 7.4.1).
constexpr uint16_t kNormal = 1000;
constexpr uint16_t kProtocolError = 1002;
constexpr uint16_t kUnsupportedData = 1003;
constexpr uint16_t kTooBig = 1009;

constexpr size_t kMaxControlPayload = 125;

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The element of the comma-separated `list` equal to `token` (case-insensitively), as the list
// spells it; "" when there is none.
std::string_view find_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    if (iequals(item, token)) return item;
    list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
  }
  return {};
}

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// 16 bytes in base64: 22 characters and "==".
bool is_websocket_key(std::string_view key) {
  return key.size() == 24 && std::all_of(key.begin(), key.begin() + 22, is_base64_char) && key.substr(22) == "==";
}

const char* reason_phrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    default: return "Error";
  }
}

// A frame header from the server: FIN set, never masked, the shortest length encoding.
void append_frame_header(uint8_t opcode, uint64_t length, std::string& wire) {
  char h[10];
  size_t n = 2;
  h[0] = static_cast<char>(0x80 | opcode);
  if (length <= 125) {
    h[1] = static_cast<char>(length);
  } else if (length <= 0xFFFF) {
    h[1] = 126;
    h[2] = static_cast<char>(length >> 8);
    h[3] = static_cast<char>(length);
    n = 4;
  } else {
    h[1] = 127;
    for (int i = 0; i < 8; ++i) h[2 + i] = static_cast<char>(length >> (56 - 8 * i));
    n = 10;
  }
  wire.append(h, n);
}

void append_frame(uint8_t opcode, std::string_view payload, std::string& wire) {
  append_frame_header(opcode, payload.size(), wire);
  wire.append(payload);
}

// Codes a close frame may carry (RFC 6455 7.4.1 and the IANA registry; 3000-4999 are for
// libraries and applications). 1005, 1006 and 1015 are never sent.
bool is_valid_close_code(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

// dst[i] = src[i] ^ mask[(pos + i) % 4], eight bytes at a time: a whole word is two turns of
// the key, so the key's phase is the same for every word. Returns the phase after the last byte.
size_t unmask(const char* src, char* dst, size_t n, const std::array<uint8_t, 4>& mask, size_t pos) {
  uint8_t key_bytes[8];
  for (size_t i = 0; i < 8; ++i) key_bytes[i] = mask[(pos + i) % 4];
  uint64_t key;
  std::memcpy(&key, key_bytes, 8);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word;
    std::memcpy(&word, src + i, 8);
    word ^= key;
    std::memcpy(dst + i, &word, 8);
  }
  for (; i < n; ++i) dst[i] = static_cast<char>(src[i] ^ key_bytes[i % 4]);
  return (pos + n) % 4;
}

// The fields of a request head the upgrade depends on; repeated fields are joined with ", ".
struct UpgradeFields {
  std::string upgrade, connection, version, key, protocols;

  void add(std::string_view name, std::string_view value) {
    std::string* field = iequals(name, "upgrade")                  ? &upgrade
                         : iequals(name, "connection")             ? &connection
                         : iequals(name, "sec-websocket-version")  ? &version
                         : iequals(name, "sec-websocket-key")      ? &key
                         : iequals(name, "sec-websocket-protocol") ? &protocols
                                                                   : nullptr;
    if (!field) return;
    if (!field->empty()) field->append(", ");
    field->append(value);
  }
};

}  // namespace

WebSocketTransport::WebSocketTransport(Start start, std::string path, uint64_t max_frame_payload)
    : phase_(start == Start::upgraded ? Phase::frame_header : Phase::http_head),
      path_(std::move(path)),
      max_frame_payload_(max_frame_payload),
      handshake_done_(start == Start::upgraded) {}

std::string WebSocketTransport::accept_key(std::string_view key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string keyed;
  keyed.reserve(key.size() + kGuid.size());
  keyed.append(key).append(kGuid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_Digest(keyed.data(), keyed.size(), digest, &digest_len, EVP_sha1(), nullptr);
  unsigned char encoded[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  int encoded_len = EVP_EncodeBlock(encoded, digest, static_cast<int>(digest_len));
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<size_t>(encoded_len));
}

std::optional<std::string> WebSocketTransport::upgrade_response(std::string_view key,
                                                                std::string_view offered_protocols,
                                                                std::string* error) {
  if (!is_websocket_key(key)) {
    if (error) *error = "Sec-WebSocket-Key is missing or not 16 bytes in base64";
    return std::nullopt;
  }
  std::string_view protocol = find_token(offered_protocols, "mqtt");
  if (protocol.empty()) protocol = find_token(offered_protocols, "mqttv3.1");
  std::string r =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
  r.append(accept_key(key)).append("\r\n");
  if (!protocol.empty()) r.append("Sec-WebSocket-Protocol: ").append(protocol).append("\r\n");
  r.append("\r\n");
  return r;
}

std::string WebSocketTransport::reject_response(int status, std::string_view why) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
  if (status == 426) r.append("Sec-WebSocket-Version: 13\r\n");
  if (status == 405) r.append("Allow: GET\r\n");
  r.append("Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ")
      .append(std::to_string(why.size() + 1))
      .append("\r\n\r\n")
      .append(why)
      .append("\n");
  return r;
}

bool WebSocketTransport::on_wire(std::string_view in, std::string& app, std::string& wire) {
  while (!in.empty()) {
    switch (phase_) {
      case Phase::closed:
        return false;
      case Phase::http_head:
        if (!read_request_head(in, wire)) return false;
        break;
      case Phase::frame_header:
        if (!read_frame_header(in, wire)) return false;
        break;
      case Phase::frame_payload:
        read_payload(in, app);
        if (payload_left_ == 0 && !finish_frame(wire)) return false;
        break;
    }
  }
  return phase_ != Phase::closed;
}

void WebSocketTransport::on_app(std::string_view app, std::string& wire) {
  if (app.empty() || close_sent_) return;
  if (!handshake_done_) {
    pending_app_.append(app);
    return;
  }
  append_frame(kBinary, app, wire);
}

void WebSocketTransport::on_close(std::string& wire) {
  if (handshake_done_ && !close_sent_) send_close(kNormal, wire);
  phase_ = Phase::closed;
}

// --- The HTTP upgrade ---------------------------------------------------------------------

// Takes bytes of the request head from `in` until its blank line, then answers it. Leaves in
// `in` what follows the head: the first frames.
bool WebSocketTransport::read_request_head(std::string_view& in, std::string& wire) {
  size_t had = head_.size();
  size_t take = std::min(in.size(), kMaxRequestHead - had);
  head_.append(in.substr(0, take));
  size_t end = head_.find("\r\n\r\n", had >= 3 ? had - 3 : 0);
  if (end == std::string::npos) {
    in.remove_prefix(take);
    if (head_.size() < kMaxRequestHead) return true;
    return reject(431, "the request head is over " + std::to_string(kMaxRequestHead) + " bytes", wire);
  }
  size_t head_len = end + 4;
  in.remove_prefix(head_len - had);
  std::string head = std::move(head_);
  head_ = std::string();
  head.resize(head_len);
  return answer_request(head, wire);
}

bool WebSocketTransport::answer_request(std::string_view head, std::string& wire) {
  size_t line_end = head.find("\r\n");
  std::string_view request_line = head.substr(0, line_end);
  head.remove_prefix(line_end + 2);

  size_t sp1 = request_line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : request_line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || request_line.find(' ', sp2 + 1) != std::string_view::npos)
    return reject(400, "malformed request line", wire);
  std::string_view method = request_line.substr(0, sp1);
  std::string_view target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = request_line.substr(sp2 + 1);
  if (method != "GET") return reject(405, "a WebSocket upgrade is a GET request", wire);
  if (version != "HTTP/1.1") return reject(400, "a WebSocket upgrade needs HTTP/1.1", wire);
  std::string_view path = target.substr(0, target.find('?'));
  if (!path_.empty() && path != path_) return reject(404, "MQTT over WebSocket is served on " + path_, wire);

  UpgradeFields fields;
  while (!head.empty()) {
    line_end = head.find("\r\n");
    std::string_view line = head.substr(0, line_end);
    head.remove_prefix(line_end + 2);
    if (line.empty()) break;  // the blank line that ends the head
    size_t colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    if (colon == std::string_view::npos || name.empty() || name.find_first_of(" \t") != std::string_view::npos)
      return reject(400, "malformed header line", wire);
    fields.add(name, trim(line.substr(colon + 1)));
  }
  if (find_token(fields.upgrade, "websocket").empty())
    return reject(400, "not a WebSocket upgrade: Upgrade: websocket is missing", wire);
  if (find_token(fields.connection, "upgrade").empty())
    return reject(400, "not a WebSocket upgrade: Connection: Upgrade is missing", wire);
  if (fields.version != "13") return reject(426, "this server speaks WebSocket version 13", wire);
  std::string why;
  std::optional<std::string> response = upgrade_response(fields.key, fields.protocols, &why);
  if (!response) return reject(400, why, wire);

  wire.append(*response);
  handshake_done_ = true;
  phase_ = Phase::frame_header;
  if (!pending_app_.empty()) {
    append_frame(kBinary, pending_app_, wire);
    pending_app_ = std::string();
  }
  return true;
}

bool WebSocketTransport::reject(int status, std::string why, std::string& wire) {
  wire.append(reject_response(status, why));
  error_ = "WebSocket handshake: " + why + " (answered " + std::to_string(status) + ")";
  head_ = std::string();
  pending_app_ = std::string();
  phase_ = Phase::closed;
  return false;
}

// --- Frames from the client -----------------------------------------------------------------
//
// Reads may cut a frame anywhere, so the reader is a two-phase machine that never waits for a
// whole frame: frame_header gathers the 2 to 14 header bytes in header_ (a copy of at most 14
// bytes per frame), then frame_payload passes data payload through to `app` as it arrives,
// unmasked in place of the copy, with mask_pos_ carrying the key's phase from read to read.
// Only a control frame's payload (at most 125 bytes) is kept, in control_, until it is whole.

// Gathers the frame header (2 to 14 bytes, maybe over several reads). The first two bytes are
// checked as soon as they are in, so a bad frame fails without waiting for the rest.
bool WebSocketTransport::read_frame_header(std::string_view& in, std::string& wire) {
  size_t take = std::min(header_need_ - header_have_, in.size());
  std::memcpy(header_.data() + header_have_, in.data(), take);
  header_have_ += take;
  in.remove_prefix(take);
  if (header_have_ < header_need_) return true;
  if (header_need_ == 2) {
    if (!check_frame_start(wire)) return false;
    uint8_t length7 = header_[1] & 0x7F;
    header_need_ = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + 4;
    return true;
  }
  return begin_payload(wire);
}

bool WebSocketTransport::check_frame_start(std::string& wire) {
  fin_ = (header_[0] & 0x80) != 0;
  opcode_ = header_[0] & 0x0F;
  uint8_t length7 = header_[1] & 0x7F;
  if ((header_[1] & 0x80) == 0) return fail(kProtocolError, "unmasked client frame", wire);
  if ((header_[0] & 0x70) != 0) return fail(kProtocolError, "reserved bits set (no extension was agreed)", wire);
  switch (opcode_) {
    case kContinuation:
      if (!message_open_) return fail(kProtocolError, "continuation frame without a message to continue", wire);
      return true;
    case kBinary:
      if (message_open_) return fail(kProtocolError, "new data frame while a fragmented message is open", wire);
      return true;
    case kText:
      return fail(kUnsupportedData, "text frame (MQTT over WebSocket is carried in binary frames)", wire);
    case kClose:
    case kPing:
    case kPong:
      if (!fin_) return fail(kProtocolError, "fragmented control frame", wire);
      if (length7 > kMaxControlPayload)
        return fail(kProtocolError, "control frame with a payload over 125 bytes", wire);
      return true;
    default:
      return fail(kProtocolError, "unknown opcode " + std::to_string(opcode_), wire);
  }
}

bool WebSocketTransport::begin_payload(std::string& wire) {
  uint8_t length7 = header_[1] & 0x7F;
  size_t at = 2;
  uint64_t length = length7;
  if (length7 >= 126) {
    size_t bytes = length7 == 126 ? 2 : 8;
    length = 0;
    for (size_t i = 0; i < bytes; ++i) length = length << 8 | header_[at + i];
    at += bytes;
    if (length >> 63) return fail(kProtocolError, "64-bit payload length with its top bit set", wire);
  }
  if (length > max_frame_payload_)
    return fail(kTooBig,
                "frame payload of " + std::to_string(length) + " bytes over the limit of " +
                    std::to_string(max_frame_payload_),
                wire);
  std::memcpy(mask_.data(), header_.data() + at, 4);
  mask_pos_ = 0;
  payload_left_ = length;
  control_len_ = 0;
  header_have_ = 0;
  header_need_ = 2;
  phase_ = Phase::frame_payload;
  return length != 0 || finish_frame(wire);
}

// Data payload goes to `app` as it arrives; a control frame's is kept until it is whole.
void WebSocketTransport::read_payload(std::string_view& in, std::string& app) {
  size_t n = static_cast<size_t>(std::min<uint64_t>(payload_left_, in.size()));
  char* out;
  if (opcode_ & 0x08) {
    out = control_.data() + control_len_;
    control_len_ += n;
  } else {
    size_t had = app.size();
    app.resize(had + n);
    out = app.data() + had;
  }
  mask_pos_ = unmask(in.data(), out, n, mask_, mask_pos_);
  in.remove_prefix(n);
  payload_left_ -= n;
}

bool WebSocketTransport::finish_frame(std::string& wire) {
  phase_ = Phase::frame_header;
  std::string_view payload(control_.data(), control_len_);
  switch (opcode_) {
    case kContinuation:
    case kBinary:
      message_open_ = !fin_;
      return true;
    case kPing:
      append_frame(kPong, payload, wire);
      return true;
    case kClose:
      return on_close_frame(wire);
    default:  // pong
      return true;
  }
}

// The client's close: echo its status code (1000 if it gave none) and end the stream cleanly.
bool WebSocketTransport::on_close_frame(std::string& wire) {
  uint16_t code = kNormal;
  if (control_len_ == 1) return fail(kProtocolError, "close frame with a 1-byte payload", wire);
  if (control_len_ >= 2) {
    code = static_cast<uint16_t>(static_cast<uint8_t>(control_[0]) << 8 | static_cast<uint8_t>(control_[1]));
    if (!is_valid_close_code(code))
      return fail(kProtocolError, "close frame with invalid code " + std::to_string(code), wire);
  }
  send_close(code, wire);
  phase_ = Phase::closed;
  return false;
}

bool WebSocketTransport::fail(uint16_t code, std::string why, std::string& wire) {
  send_close(code, wire);
  error_ = "WebSocket: " + why + " (closed with " + std::to_string(code) + ")";
  phase_ = Phase::closed;
  return false;
}

void WebSocketTransport::send_close(uint16_t code, std::string& wire) {
  if (close_sent_) return;
  const char payload[2] = {static_cast<char>(code >> 8), static_cast<char>(code)};
  append_frame(kClose, std::string_view(payload, 2), wire);
  close_sent_ = true;
}

}  // namespace mqbase::net
