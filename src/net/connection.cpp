#include "net/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <spdlog/spdlog.h>

#include "mqtt/decoder.h"
#include "net/event_loop.h"
#include "net/listener.h"

namespace mqbase::net {

using Clock = broker::Client::Clock;

namespace {
// A writing_ buffer grown past this by a burst is given back once written.
constexpr size_t kKeepWriteCapacity = 256 * 1024;
// A paused connection reads on (to handle acknowledgements) until this much waits unhandled.
constexpr size_t kPausedReadLimit = 1 << 20;

bool is_ack(mqtt::PacketType t) {
  using T = mqtt::PacketType;
  return t == T::puback || t == T::pubrec || t == T::pubrel || t == T::pubcomp || t == T::pingreq;
}

// Writes what the non-blocking socket takes now; returns the bytes written. `failed` tells a
// dead peer from a full socket.
size_t send_now(int fd, const char* data, size_t size, bool& failed) {
  size_t done = 0;
  failed = false;
  while (done < size) {
    ssize_t n = ::send(fd, data + done, size - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      failed = !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
      break;
    }
  }
  return done;
}
}  // namespace

// The server counted the socket in sockets_open when it accepted it.
Connection::Connection(EventLoop& loop, int fd, std::shared_ptr<const Listener> listener, std::string greeting,
                       std::string input, std::string peer)
    : loop_(loop),
      fd_(fd),
      peer_(std::move(peer)),
      listener_(std::move(listener)),
      greeting_(std::move(greeting)),
      first_input_(std::move(input)) {
  if (listener_) transport_ = listener_->make_transport();
}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
  broker::Stats::sub(loop_.broker().stats().sockets_open);
}

std::string peer_text(const sockaddr_storage& sa) {
  char host[INET6_ADDRSTRLEN] = "";
  if (sa.ss_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(&sa);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (sa.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&sa);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return {};
}

void Connection::start() {
  if (peer_.empty()) {  // handed over without one (see the constructor): ask the socket
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_storage sa{};
    socklen_t len = sizeof sa;
    if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&sa), &len) == 0) peer_ = peer_text(sa);
  }
  client_ = std::make_unique<broker::Client>(loop_.broker(), shared_from_this(), Clock::now());
  loop_.add(this, fd_);  // one syscall per new connection: a storm of short ones adds up
  if (!greeting_.empty()) send_wire(greeting_);
  if (!first_input_.empty()) {  // read with the upgrade request: frames, for the transport
    std::string input = std::move(first_input_);
    if (transport_)
      take_wire(input.data(), input.size());
    else
      take_input(input.data(), input.size());
  }
}

broker::LinkSecurity Connection::security() const {
  broker::LinkSecurity s = listener_ ? listener_->security() : broker::LinkSecurity{};
  if (transport_) s.cert_identity = transport_->peer_identity();
  return s;
}

struct Connection::Deferred {
  boost::asio::steady_timer timer;
};

void Connection::defer(std::chrono::milliseconds delay, std::function<void()> fn) {
  // Fired timers are those only this list still holds.
  std::erase_if(deferred_, [](const std::shared_ptr<Deferred>& d) { return d.use_count() == 1; });
  auto d = std::make_shared<Deferred>(Deferred{boost::asio::steady_timer(loop_.context(), delay)});
  deferred_.push_back(d);
  d->timer.async_wait([d, weak = weak_from_this(), fn = std::move(fn)](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!ec && self && !self->finished_ && !self->closed_) fn();
  });
}

void Connection::send_wire(std::string& bytes) {
  {
    std::lock_guard lock(out_mutex_);
    if (closed_) return;
    pending_.store(pending_.load(std::memory_order_relaxed) + bytes.size(), std::memory_order_relaxed);
    writing_.append(bytes);
    write_busy_ = true;
    bytes.clear();
    if (flush_scheduled_) return;
    flush_scheduled_ = true;
  }
  loop_.schedule_flush(shared_from_this());
}

void Connection::on_events(uint32_t events) {
  if (finished_) return;
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable();
  if (!finished_ && (events & EPOLLOUT)) flush(true);
}

// One read per readiness event into the loop's buffer: the epoll set is level-triggered, so a
// socket with more to read comes back in the next round, after the others had their turn. An
// idle connection holds no read buffer; only the tail of a packet split across reads is kept
// (in partial_).
//
// A packet split across reads grows partial_ as its bytes arrive (the string doubles), never
// by the length its header declares: a 5-byte header cannot make the server reserve 256 MB.
void Connection::on_readable() {
  if (input_stopped_) return;
  char* buf = loop_.read_buffer();
  ssize_t n = ::recv(fd_, buf, EventLoop::kReadBufferSize, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    if (paused_ && !partial_.empty() && !closed_) {
      // The client is gone: what it sent before leaving (a DISCONNECT, say) is handled now,
      // held back or not.
      at_eof_ = true;
      paused_ = false;
      process(partial_);
    }
    finish();
    return;
  }
  auto size = static_cast<size_t>(n);
  broker::Stats::add(loop_.broker().stats().bytes_received, size);
  if (!transport_)
    take_input(buf, size);
  else
    take_wire(buf, size);
}

void Connection::take_wire(const char* buf, size_t size) {
  if (close_requested_.load(std::memory_order_relaxed)) return;  // nothing more is handled
  app_in_.clear();
  bool ok = transport_->on_wire({buf, size}, app_in_, wire_out_);
  if (!wire_out_.empty()) send_wire(wire_out_);
  if (!app_in_.empty()) take_input(app_in_.data(), app_in_.size());
  if (!ok && !finished_) {
    std::string why = transport_->error();
    if (!why.empty()) spdlog::info("connection from {}: {}", peer_, why);
    goodbye_sent_ = true;  // the transport has said its goodbye (or cannot)
    close();
  }
  if (app_in_.capacity() > EventLoop::kReadBufferSize) std::string().swap(app_in_);
}

void Connection::take_input(const char* buf, size_t size) {
  if (paused_) {
    partial_.append(buf, size);
  } else if (partial_.empty()) {
    size_t used = process({buf, size});
    if (used < size) partial_.assign(buf + used, size - used);
  } else {
    partial_.append(buf, size);
    size_t used = process(partial_);
    partial_.erase(0, used);
  }
  hold_back_rest();
  if (partial_.empty()) std::string().swap(partial_);  // give the memory back
  if (closed_) finish();
}

void Connection::hold_back_rest() {
  if (!paused_ || closed_) return;
  take_acks_while_paused();
  if (partial_.size() >= kPausedReadLimit && !input_stopped_) {
    input_stopped_ = true;  // the kernel's buffer fills, and the client's TCP window closes
    update_interest();
  }
}

void Connection::take_acks_while_paused() {
  const uint32_t max_size = loop_.broker().limits().max_packet_size;
  auto now = Clock::now();
  size_t r = 0, w = 0;
  while (r < partial_.size() && !close_requested_.load(std::memory_order_relaxed)) {
    mqtt::FixedHeader h;
    std::string_view in(partial_.data() + r, partial_.size() - r);
    if (mqtt::parse_fixed_header(in, max_size, h) != mqtt::FrameStatus::ok) break;  // handled in order later
    // Nothing after a DISCONNECT is handled ([MQTT-3.1.4-5]), nor anything the packets held
    // back must come before (SUBSCRIBE, AUTH, ...): only acknowledgements overtake.
    if (h.type == mqtt::PacketType::disconnect) break;
    if (is_ack(h.type)) {
      mqtt::Packet packet;
      auto result = mqtt::decode_packet(h, in.substr(h.header_length, h.remaining_length), client_->version(), packet);
      if (!result.ok()) break;  // the error is met in order later
      client_->on_packet(packet, now);
    } else {
      if (w != r) std::memmove(partial_.data() + w, partial_.data() + r, h.total());
      w += h.total();
    }
    r += h.total();
  }
  partial_.erase(w, r - w);
}

void Connection::pause_reading() {
  if (at_eof_) return;
  congested_ = true;
  paused_ = true;
}

void Connection::resume_reading() {
  boost::asio::post(loop_.context(), [self = shared_from_this()] {
    self->congested_ = false;
    self->resume();
  });
}

void Connection::hold_input(bool on) {
  if (on) {
    if (at_eof_) return;
    durable_hold_ = true;
    paused_ = true;
    return;
  }
  durable_hold_ = false;
  // Posted: the caller (Client::on_durable) is still at work on the client.
  boost::asio::post(loop_.context(), [self = shared_from_this()] { self->resume(); });
}

void Connection::await_durable(uint64_t lsn) {
  if (EventLoop::current() == &loop_)
    loop_.await_durable(shared_from_this(), lsn);
  else
    boost::asio::post(loop_.context(), [self = shared_from_this(), lsn] { self->loop_.await_durable(self, lsn); });
}

void Connection::wake_durable() {
  // Always posted, even from this loop: the caller holds a session's lock.
  if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
  boost::asio::post(loop_.context(), [self = shared_from_this()] {
    self->wake_pending_.store(false, std::memory_order_release);
    if (auto* persist = self->loop_.broker().persistence()) self->on_durable(persist->durable_lsn());
  });
}

void Connection::on_durable(uint64_t lsn) {
  if (!finished_ && client_) client_->on_durable(lsn);
  if (closed_) finish();
}

void Connection::resume() {
  if (finished_ || !paused_ || congested_ || durable_hold_) return;
  paused_ = false;
  if (input_stopped_) {
    input_stopped_ = false;
    update_interest();
  }
  if (!partial_.empty()) {
    size_t used = process(partial_);
    partial_.erase(0, used);
    hold_back_rest();
  }
  if (closed_) finish();
}

void Connection::update_interest() {
  if (fd_ >= 0) loop_.watch(this, fd_, want_write_, !input_stopped_);
}

size_t Connection::unsent_bytes() const {
  size_t local = EventLoop::current() == &loop_ ? local_out_.size() : 0;
  return pending_.load(std::memory_order_relaxed) + local;
}

void Connection::request_writable_notice() {
  if (EventLoop::current() == &loop_) {
    writable_notice_ = true;
    return;
  }
  // From another thread (a replay's reader): on the loop, where the flag lives. The buffer may
  // have drained meanwhile, and then no write would come to notice it.
  boost::asio::post(loop_.context(), [self = shared_from_this()] {
    if (self->finished_ || !self->client_) return;
    if (self->pending_.load(std::memory_order_relaxed) < self->loop_.broker().limits().max_write_buffer / 2)
      self->client_->on_writable();
    else
      self->writable_notice_ = true;
  });
}

size_t Connection::process(std::string_view data) {
  const uint32_t max_size = loop_.broker().limits().max_packet_size;
  size_t off = 0;
  auto now = Clock::now();
  bool stop = false;
  while (!stop && off < data.size()) {
    std::string_view in = data.substr(off);
    mqtt::FixedHeader h;
    switch (mqtt::parse_fixed_header(in, max_size, h)) {
      case mqtt::FrameStatus::need_more:
        stop = true;
        break;
      case mqtt::FrameStatus::malformed:
        client_->on_decode_error({mqtt::ReasonCode::malformed_packet, "bad remaining length"});
        stop = true;
        break;
      case mqtt::FrameStatus::too_large:
        client_->on_packet_too_large();
        stop = true;
        break;
      case mqtt::FrameStatus::ok: {
        mqtt::Packet packet;
        auto body = in.substr(h.header_length, h.remaining_length);
        auto result = mqtt::decode_packet(h, body, client_->version(), packet);
        off += h.total();
        if (!result.ok()) {
          client_->on_decode_error(result);
          stop = true;
        } else {
          client_->on_packet(packet, now);
          if (paused_) stop = true;  // backpressure: the rest waits
        }
        break;
      }
    }
    if (close_requested_.load(std::memory_order_relaxed)) stop = true;
  }
  // After a close request nothing more is processed ([MQTT-3.1.4-5]): drop the rest.
  return close_requested_.load(std::memory_order_relaxed) ? data.size() : off;
}

bool Connection::send(std::string_view bytes, broker::SendMode mode) {
  const bool droppable = mode != broker::SendMode::reliable;
  EventLoop* here = EventLoop::current();
  if (here != &loop_ && here != nullptr) {
    if (mode == broker::SendMode::droppable_batched) {  // from another loop: staged there, handed over after its pass
      if (close_requested_.load(std::memory_order_relaxed)) return false;
      std::string& staged = here->staged_for(this);
      if (pending_.load(std::memory_order_relaxed) + staged.size() > loop_.broker().limits().max_write_buffer)
        return false;
      staged.append(bytes);
      return true;
    }
    here->hand_over(this);  // what that loop staged before goes first
  } else if (here == &loop_ && mode == broker::SendMode::droppable_batched) {
    // QoS 0 from this connection's own loop: into the loop-only buffer, no lock taken.
    if (close_requested_.load(std::memory_order_relaxed) || closed_) return false;
    if (pending_.load(std::memory_order_relaxed) + local_out_.size() > loop_.broker().limits().max_write_buffer)
      return false;
    local_out_.append(bytes);
    if (!local_scheduled_) {
      local_scheduled_ = true;
      local_pending_.store(true, std::memory_order_relaxed);
      loop_.schedule_flush(shared_from_this());
    }
    return true;
  }
  bool overflow = false;
  {
    std::lock_guard lock(out_mutex_);
    if (close_requested_.load(std::memory_order_relaxed) || closed_) return false;
    size_t local = here == &loop_ ? local_out_.size() : 0;  // local_out_ is the loop's
    size_t pending = pending_.load(std::memory_order_relaxed);
    if (droppable && pending + local > loop_.broker().limits().max_write_buffer) return false;
    overflow = pending + local > 0 && pending + local + bytes.size() > loop_.broker().limits().max_unsent_bytes;
    if (overflow) {
      // A client that does not read would make us hold everything owed to it: past the cap
      // it is disconnected without the rest (flush() says why in the log).
      overflowed_ = true;
      close_requested_ = true;
    } else {
      // What this loop put in local_out_ before goes first (local_out_ is this loop's; another
      // thread never gets here with it non-empty).
      if (here == &loop_ && !local_out_.empty()) join_out(local_out_);  // counts itself in pending_
      out_.append(bytes);
      pending_.store(pending_.load(std::memory_order_relaxed) + bytes.size(), std::memory_order_relaxed);
    }
    if (flush_scheduled_) return !overflow;
    flush_scheduled_ = true;
  }
  loop_.schedule_flush(shared_from_this());
  return !overflow;
}

void Connection::take_staged(std::string& bytes) {
  {
    std::lock_guard lock(out_mutex_);
    if (close_requested_.load(std::memory_order_relaxed) || closed_) {
      bytes.clear();
      return;
    }
    // The owning loop is busy (many publishers into one subscriber) and nothing of this
    // connection waits to be written: write from this thread, under the lock, so the send
    // costs of a busy subscriber spread over the loops that feed it. An idle owner gets the
    // bytes handed over instead, so fan-out spreads its writes over the loops.
    if (!transport_ && !write_busy_ && out_.empty() && !local_pending_.load(std::memory_order_relaxed) &&
        loop_.busy()) {
      bool failed;  // full, or failed: the owner writes (or meets the error) with the rest
      size_t done = send_now(fd_, bytes.data(), bytes.size(), failed);
      broker::Stats::add(loop_.broker().stats().bytes_sent, done);
      if (done == bytes.size()) {
        bytes.clear();
        return;
      }
      bytes.erase(0, done);
    }
    join_out(bytes);
    if (flush_scheduled_) return;
    flush_scheduled_ = true;
  }
  loop_.schedule_flush(shared_from_this());
}

void Connection::close() {
  {
    std::lock_guard lock(out_mutex_);
    if (close_requested_.load(std::memory_order_relaxed)) return;
    close_requested_ = true;
    if (flush_scheduled_) return;
    flush_scheduled_ = true;
  }
  loop_.schedule_flush(shared_from_this());
}

void Connection::disconnect(mqtt::ReasonCode reason) {
  // The Client lives on this connection's loop: hand it the reason there.
  boost::asio::post(loop_.context(), [self = shared_from_this(), reason] {
    if (self->client_ && !self->finished_) self->client_->on_server_disconnect(reason);
  });
}

// Under out_mutex_: `bytes` joins the end of out_ (by a swap when out_ is empty) and is left
// empty.
void Connection::join_out(std::string& bytes) {
  pending_.store(pending_.load(std::memory_order_relaxed) + bytes.size(), std::memory_order_relaxed);
  if (out_.empty())
    out_.swap(bytes);
  else
    out_.append(bytes);
  bytes.clear();
}

void Connection::flush(bool writable) {
  if (finished_) return;
  bool close_now = false;
  local_scheduled_ = false;
  local_pending_.store(false, std::memory_order_relaxed);
  {
    std::lock_guard lock(out_mutex_);
    flush_scheduled_ = false;
    if (closed_) return;
    if (!local_out_.empty()) join_out(local_out_);
    if (!out_.empty() && transport_) {
      // Encoded here, on the loop (the transport is not thread-safe), under the lock so that
      // pending_ counts the bytes on the wire.
      size_t before = writing_.size();
      transport_->on_app(out_, writing_);
      pending_.store(pending_.load(std::memory_order_relaxed) - out_.size() + (writing_.size() - before),
                     std::memory_order_relaxed);
      out_.clear();
    } else if (!out_.empty()) {
      if (writing_.empty()) {
        writing_.swap(out_);
        written_ = 0;
      } else {
        writing_.append(out_);
        out_.clear();
      }
    }
    write_busy_ = !writing_.empty();
    close_now = (writing_.size() == written_ || overflowed_) && close_requested_.load(std::memory_order_relaxed);
    if (overflowed_ && client_) {
      spdlog::warn("client {}: {} bytes unsent, over limits.max_unsent_bytes ({}): disconnecting a client that "
                   "does not read",
                   client_->log_id(), pending_.load(std::memory_order_relaxed), loop_.broker().limits().max_unsent_bytes);
    }
  }
  // While EPOLLOUT is awaited the socket is full: only the writable event writes.
  if (!close_now && (writable || !want_write_) && written_ < writing_.size() && !write_out()) close_now = true;
  if (!close_now) {
    std::lock_guard lock(out_mutex_);
    close_now = writing_.empty() && out_.empty() && close_requested_.load(std::memory_order_relaxed);
  }
  if (close_now) {
    if (transport_ && !goodbye_sent_ && fd_ >= 0) {
      // TLS close_notify, WebSocket close 1000: as far as the socket takes it now.
      goodbye_sent_ = true;
      std::string bye;
      transport_->on_close(bye);
      bool failed;
      send_now(fd_, bye.data(), bye.size(), failed);
    }
    close_socket();
    finish();
  }
}

// Writes as much of writing_ as the socket takes now. What is left waits for EPOLLOUT (the
// loop calls flush() again when the socket is writable).
bool Connection::write_out() {
  bool failed;
  size_t sent = send_now(fd_, writing_.data() + written_, writing_.size() - written_, failed);
  if (failed) return false;  // the peer is gone: the read side sees it too
  written_ += sent;
  broker::Stats::add(loop_.broker().stats().bytes_sent, sent);
  bool done = written_ == writing_.size();
  size_t pending;
  {
    std::lock_guard lock(out_mutex_);
    pending = pending_.load(std::memory_order_relaxed) - sent;
    pending_.store(pending, std::memory_order_relaxed);
    if (done) write_busy_ = false;
  }
  if (writable_notice_ && pending < loop_.broker().limits().max_write_buffer / 2) {
    // Room again for what the Client paces (retained messages): it continues after this pass.
    writable_notice_ = false;
    boost::asio::post(loop_.context(), [self = shared_from_this()] {
      if (self->client_ && !self->finished_) self->client_->on_writable();
    });
  }
  if (done) {
    writing_.clear();
    written_ = 0;
    if (writing_.capacity() > kKeepWriteCapacity) std::string().swap(writing_);
  }
  if (done == want_write_) {  // interest in EPOLLOUT changes
    want_write_ = !done;
    update_interest();
  }
  return true;
}

void Connection::close_socket() {
  {
    std::lock_guard lock(out_mutex_);
    if (closed_) return;
    closed_ = true;
    close_requested_ = true;
    out_.clear();
    local_out_.clear();
    pending_.store(0, std::memory_order_relaxed);
  }
  // close() takes the socket out of the epoll set (no EPOLL_CTL_DEL: one syscall less) and
  // sends the FIN (no shutdown() first: the socket is never shared, with no fork or dup).
  ::close(fd_);
  fd_ = -1;
}

void Connection::finish() {
  if (finished_) return;
  close_socket();
  finished_ = true;
  for (auto& d : deferred_) d->timer.cancel();
  deferred_.clear();
  client_->on_closed();
  client_.reset();     // the Client holds this Connection as its link: break the cycle
  loop_.remove(this);  // released after the loop's pass
}

void Connection::check_deadline(Clock::time_point now) {
  // A connection we hold back (backpressure) is not timed out for the packets we do not read.
  if (client_ && !paused_ && client_->deadline_passed(now)) client_->on_deadline();
}

void Connection::shutdown_by_server() {
  if (client_) client_->on_server_shutdown();
}

void Connection::abort() { finish(); }

}  // namespace mqbase::net
