#include "client/blocking_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "client/topic_check.h"
#include "mqtt/decoder.h"
#include "mqtt/encoder.h"

namespace mqbase::client {

using Clock = std::chrono::steady_clock;
using mqtt::PacketType;

BlockingClient::BlockingClient(ClientOptions options) : opt_(std::move(options)) {}

BlockingClient::~BlockingClient() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

// "packet too large (0x95): <reason string>": the name a person reads, the code to look up,
// and what the server added in words.
std::string describe(mqtt::ReasonCode reason, const mqtt::Properties& props) {
  char code[8];
  std::snprintf(code, sizeof code, "0x%02X", static_cast<unsigned>(reason));
  std::string out = std::string(mqtt::reason_name(reason)) + " (" + code + ")";
  if (auto rs = props.string(mqtt::PropertyId::reason_string)) out += ": " + std::string(*rs);
  return out;
}

}  // namespace

void BlockingClient::send_packet(const mqtt::Packet& p) {
  std::string out;
  mqtt::encode(p, opt_.version, out);
  size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::send(fd_, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_send_failure(errno);
    }
    off += static_cast<size_t>(n);
  }
  last_sent_ = Clock::now();
}

void BlockingClient::throw_send_failure(int err) {
  char buf[65536];
  while (true) {
    ssize_t r = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (r <= 0) break;
    rbuf_.append(buf, static_cast<size_t>(r));
  }
  mqtt::Packet p;
  while (next_buffered_packet(p)) {
  }  // a DISCONNECT among them throws with its reason
  if (err == EPIPE || err == ECONNRESET) throw ClientError("connection closed by server");
  throw ClientError(std::string("send failed: ") + std::strerror(err));
}

bool BlockingClient::next_buffered_packet(mqtt::Packet& out) {
  rbuf_.erase(0, consumed_);
  consumed_ = 0;
  mqtt::FixedHeader h;
  auto st = mqtt::parse_fixed_header(rbuf_, mqtt::kMaxRemainingLength + 5, h);
  if (st == mqtt::FrameStatus::need_more) return false;
  if (st != mqtt::FrameStatus::ok) throw ClientError("malformed packet from server");
  auto r = mqtt::decode_packet(h, std::string_view(rbuf_).substr(h.header_length, h.remaining_length),
                               opt_.version, out);
  if (!r.ok()) throw ClientError("malformed packet from server: " + std::string(r.error));
  consumed_ = h.total();
  if (auto* d = std::get_if<mqtt::Disconnect>(&out))
    throw ClientError("disconnected by server: " + describe(d->reason, d->props));
  return true;
}

bool BlockingClient::read_packet(mqtt::Packet& out, Clock::time_point deadline, int extra_fd, bool* extra_ready) {
  while (true) {
    if (next_buffered_packet(out)) return true;
    auto now = Clock::now();
    if (now >= deadline) return false;
    // Wake in time to send PINGREQ within the keep-alive.
    auto wait = deadline - now;
    if (opt_.keep_alive > 0) {
      auto ping_at = last_sent_ + std::chrono::seconds(opt_.keep_alive);
      wait = std::min<Clock::duration>(wait, std::max<Clock::duration>(ping_at - now, Clock::duration::zero()));
    }
    pollfd fds[2] = {{fd_, POLLIN, 0}, {extra_fd, POLLIN, 0}};
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait).count();
    int ms = static_cast<int>(std::min<int64_t>(wait_ms, 3'600'000)) + 1;
    int n = ::poll(fds, extra_fd >= 0 ? 2 : 1, ms);
    if (n < 0 && errno != EINTR) throw ClientError(std::string("poll failed: ") + std::strerror(errno));
    if (n > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      char buf[65536];
      ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
      if (r == 0) throw ClientError("connection closed by server");
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == ECONNRESET) throw ClientError("connection closed by server (reset)");
        throw ClientError(std::string("recv failed: ") + std::strerror(errno));
      }
      rbuf_.append(buf, static_cast<size_t>(r));
      continue;  // decode it before looking at extra_fd
    }
    if (n > 0 && extra_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP))) {
      *extra_ready = true;
      return false;
    }
    ping_if_due();
  }
}

void BlockingClient::ping_if_due() {
  if (opt_.keep_alive == 0) return;
  if (Clock::now() - last_sent_ >= std::chrono::seconds(opt_.keep_alive)) send_packet(mqtt::Pingreq{});
}

void BlockingClient::connect() {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(opt_.port);
  if (int rc = ::getaddrinfo(opt_.host.c_str(), port.c_str(), &hints, &res); rc != 0)
    throw ClientError("cannot resolve " + opt_.host + ": " + gai_strerror(rc));
  std::string last_error = "no address";
  for (auto* ai = res; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      fd_ = fd;
      break;
    }
    last_error = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (fd_ < 0) throw ClientError("cannot connect to " + opt_.host + ":" + port + ": " + last_error);
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  mqtt::Connect c;
  c.version = opt_.version;
  if (opt_.version == mqtt::Version::v5 && opt_.session_expiry)
    c.props.add_number(mqtt::PropertyId::session_expiry_interval, opt_.session_expiry);
  c.clean_start = opt_.clean_session;
  c.keep_alive = opt_.keep_alive;
  c.client_id = opt_.client_id;
  if (opt_.will_topic) c.will = mqtt::Will{*opt_.will_topic, opt_.will_payload, opt_.will_qos, opt_.will_retain, {}};
  if (opt_.username) c.username = *opt_.username;
  if (opt_.password) c.password = *opt_.password;
  send_packet(c);
  mqtt::Packet p;
  if (!read_packet(p, Clock::now() + std::chrono::seconds(10))) throw ClientError("no CONNACK within 10 s");
  auto* ack = std::get_if<mqtt::Connack>(&p);
  if (!ack)
    throw ClientError("expected CONNACK, got packet type " + std::to_string(static_cast<int>(mqtt::type_of(p))));
  if (ack->code != 0) {
    std::string why;
    if (opt_.version == mqtt::Version::v5) {
      why = describe(static_cast<mqtt::ReasonCode>(ack->code), ack->props);
    } else {
      static const char* kReasons[] = {"accepted", "unacceptable protocol version", "identifier rejected",
                                       "server unavailable", "bad user name or password", "not authorized"};
      why = std::string(ack->code < 6 ? kReasons[ack->code] : "unknown return code") + " (return code " +
            std::to_string(ack->code) + ")";
    }
    throw ClientError("connection refused: " + why, ack->code);
  }
}

uint16_t BlockingClient::next_id() {
  last_id_ = static_cast<uint16_t>(last_id_ == 65535 ? 1 : last_id_ + 1);
  return last_id_;
}

void BlockingClient::publish(const std::string& topic, const std::string& payload, uint8_t qos, bool retain,
                             const PublishProperties& props) {
  if (auto problem = topic_name_problem(topic, "publish topic"); !problem.empty()) throw ClientError(problem);
  uint16_t id = qos > 0 ? next_id() : 0;
  mqtt::Publish pub{topic, payload, qos, retain, false, id, {}};
  if (opt_.version == mqtt::Version::v5) {
    using mqtt::PropertyId;
    if (props.message_expiry) pub.props.add_number(PropertyId::message_expiry_interval, *props.message_expiry);
    if (props.content_type) pub.props.add_string(PropertyId::content_type, *props.content_type);
    if (props.response_topic) pub.props.add_string(PropertyId::response_topic, *props.response_topic);
    if (props.correlation_data) pub.props.add_string(PropertyId::correlation_data, *props.correlation_data);
    for (const auto& [k, v] : props.user) pub.props.add_user(k, v);
  }
  send_packet(pub);
  if (qos == 0) return;
  auto deadline = Clock::now() + std::chrono::seconds(30);
  PacketType want = qos == 1 ? PacketType::puback : PacketType::pubrec;
  while (true) {
    mqtt::Packet p;
    if (!read_packet(p, deadline)) throw ClientError("no acknowledgement within 30 s");
    auto* a = std::get_if<mqtt::PubAck>(&p);
    if (!a || a->packet_id != id) continue;
    if (mqtt::is_error(a->reason))
      throw ClientError("publish to '" + topic + "' refused: " + describe(a->reason, a->props));
    if (a->type == want && want == PacketType::pubrec) {
      send_packet(mqtt::PubAck{PacketType::pubrel, id, mqtt::ReasonCode::success, {}});
      want = PacketType::pubcomp;
      continue;
    }
    if (a->type == want) return;
  }
}

std::vector<uint8_t> BlockingClient::subscribe(const std::vector<std::string>& filters, uint8_t qos) {
  for (const auto& f : filters)
    if (auto problem = topic_filter_problem(f); !problem.empty()) throw ClientError(problem);
  mqtt::Subscribe s;
  s.packet_id = next_id();
  for (const auto& f : filters) s.subscriptions.push_back({f, qos, false, false, 0});
  send_packet(s);
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (true) {
    mqtt::Packet p;
    if (!read_packet(p, deadline)) throw ClientError("no SUBACK within 30 s");
    if (auto* ack = std::get_if<mqtt::Suback>(&p); ack && ack->packet_id == s.packet_id) {
      for (size_t i = 0; i < ack->codes.size(); ++i) {
        if (ack->codes[i] < 0x80) continue;
        // 3.x has one failure code, 0x80, and no reason string; v5 says which failure.
        std::string why = opt_.version == mqtt::Version::v5
                              ? describe(static_cast<mqtt::ReasonCode>(ack->codes[i]), ack->props)
                              : "failure (0x80)";
        throw ClientError("subscription to '" + filters[std::min(i, filters.size() - 1)] + "' refused: " + why);
      }
      return ack->codes;
    }
    // A resumed session's queued messages can arrive before the SUBACK: keep them for receive().
    if (auto* pub = std::get_if<mqtt::Publish>(&p)) {
      std::optional<ReceivedMessage> m;
      handle_incoming_publish(*pub, m);
      early_.push_back(std::move(*m));
    }
  }
}

void BlockingClient::handle_incoming_publish(const mqtt::Publish& p, std::optional<ReceivedMessage>& out) {
  if (p.qos == 1) {
    send_packet(mqtt::PubAck{PacketType::puback, p.packet_id, mqtt::ReasonCode::success, {}});
  } else if (p.qos == 2) {
    send_packet(mqtt::PubAck{PacketType::pubrec, p.packet_id, mqtt::ReasonCode::success, {}});
  }
  out = ReceivedMessage{std::string(p.topic), std::string(p.payload), p.qos, p.retain, {}, {}};
  for (const auto& prop : p.props.items) {
    using mqtt::PropertyId;
    switch (prop.id) {
      case PropertyId::user_property: out->props.user.emplace_back(prop.value, prop.value2); break;
      case PropertyId::response_topic: out->props.response_topic = std::string(prop.value); break;
      case PropertyId::correlation_data: out->props.correlation_data = std::string(prop.value); break;
      case PropertyId::content_type: out->props.content_type = std::string(prop.value); break;
      case PropertyId::message_expiry_interval: out->props.message_expiry = prop.number; break;
      case PropertyId::subscription_identifier: out->subscription_ids.push_back(prop.number); break;
      default: break;
    }
  }
}

std::optional<ReceivedMessage> BlockingClient::receive(std::chrono::milliseconds timeout) {
  if (!early_.empty()) {
    ReceivedMessage m = std::move(early_.front());
    early_.pop_front();
    return m;
  }
  auto deadline = timeout.count() < 0 ? Clock::time_point::max() : Clock::now() + timeout;
  while (true) {
    mqtt::Packet p;
    if (!read_packet(p, deadline)) return std::nullopt;
    if (auto* pub = std::get_if<mqtt::Publish>(&p)) {
      std::optional<ReceivedMessage> m;
      handle_incoming_publish(*pub, m);
      return m;
    }
    if (auto* a = std::get_if<mqtt::PubAck>(&p); a && a->type == PacketType::pubrel) {
      send_packet(mqtt::PubAck{PacketType::pubcomp, a->packet_id, mqtt::ReasonCode::success, {}});
    }
  }
}

void BlockingClient::wait_readable(int fd) {
  bool ready = false;
  while (!ready) {
    mqtt::Packet p;
    read_packet(p, Clock::time_point::max(), fd, &ready);
  }
}

void BlockingClient::sync() {
  send_packet(mqtt::Pingreq{});
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (true) {
    mqtt::Packet p;
    if (!read_packet(p, deadline)) throw ClientError("no PINGRESP within 30 s");
    if (std::holds_alternative<mqtt::Pingresp>(p)) return;
    // A message for a resumed session (pub -c): acknowledge it as wait_readable() does.
    if (auto* pub = std::get_if<mqtt::Publish>(&p)) {
      std::optional<ReceivedMessage> ignored;
      handle_incoming_publish(*pub, ignored);
    }
  }
}

void BlockingClient::disconnect() {
  if (fd_ < 0) return;
  send_packet(mqtt::Disconnect{});
  ::shutdown(fd_, SHUT_WR);
  ::close(fd_);
  fd_ = -1;
}

}  // namespace mqbase::client
