#include "bench/worker.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "bench/clock.h"
#include "bench/payload_header.h"
#include "mqtt/decoder.h"
#include "mqtt/encoder.h"

namespace mqbase::bench {
namespace {

constexpr size_t kBatchBytes = 64 * 1024;        // PUBLISH bytes a publisher appends per pass
constexpr size_t kSubscriberReadBuffer = 256 * 1024;  // shrunk when there are many subscribers
constexpr size_t kSubscriberReadBudget = 64 << 20;    // over all subscribers of the run
constexpr size_t kPublisherReadBuffer = 16 * 1024;
constexpr size_t kIdleReadBuffer = 512;
constexpr int kMaxEvents = 1024;
constexpr int64_t kStallNs = 1'000'000'000;      // a silent window is given up after this
constexpr int64_t kIdleTimeoutNs = 100'000'000;  // re-check the phase at least this often
constexpr uint32_t kMaxPacket = mqtt::kMaxRemainingLength + 5;

enum class Role : uint8_t { idle, publisher, subscriber, storm };
// disconnecting: a storm client sent DISCONNECT and waits for the broker to close.
enum class State : uint8_t { pending, tcp_connecting, tls_handshaking, mqtt_connecting, subscribing, ready, disconnecting, closed };

std::string errno_text(int e) { return std::strerror(e); }

// OpenSSL's reason for the last failure of this thread (its error queue).
std::string tls_error_text() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "connection closed during the handshake";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// The client id of a connection: short enough for MQTT 3.1 (23 characters), unique per
// process and role.
std::string client_id(char role, uint32_t id) { return fmt::format("mqb{:x}{}{}", ::getpid(), role, id); }

}  // namespace

struct Worker::Publisher {
  const PublisherPlan* plan = nullptr;
  std::string packet;        // one encoded PUBLISH; copied per message, then patched
  size_t payload_offset = 0;
  size_t packet_id_offset = 0;  // QoS > 0
  uint64_t sent = 0;
  uint64_t acked = 0;
  uint32_t window = 0;         // --inflight, capped by the server's Receive Maximum
  uint64_t e2e_floor = 0;      // window base after giving up on lost messages
  uint64_t last_progress = 0;  // min progress at the last check
  int64_t progress_ns = 0;     // when it last moved
  double rate_per_ns = 0;      // 0 = unlimited
  std::vector<Stream*> peers;  // the streams of its subscribers (end-to-end flow control)
};

struct Worker::Conn {
  int fd = -1;
  SSL* ssl = nullptr;  // MQTT over TLS (RunContext::tls)
  Role role = Role::idle;
  State state = State::pending;
  uint32_t id = 0;
  bool epollout = false;
  bool dirty = false;
  std::string out;
  size_t out_offset = 0;
  std::unique_ptr<char[]> in;
  size_t in_cap = 0;
  size_t in_len = 0;
  int64_t connect_start_ns = 0;
  int64_t last_send_ns = 0;
  Publisher* pub = nullptr;
  SubscriberStreams* sub = nullptr;
  const SubscriberPlan* sub_plan = nullptr;
  std::string client_id;
  std::string acks[4];  // encoded PUBACK, PUBREC, PUBREL, PUBCOMP templates (packet id patched)
};

Worker::Worker(RunContext& ctx, unsigned index) : ctx_(ctx), index_(index) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) throw std::runtime_error("epoll/eventfd: " + errno_text(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // nullptr = the wake-up eventfd
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  unsigned threads = std::max(1u, ctx.opt.threads);
  max_handshakes_ = std::max(1u, ctx.opt.max_pending_connects / threads);
  if (ctx.plan.idle_connections > 0 && ctx.opt.rate > 0) open_rate_per_ns_ = ctx.opt.rate / threads / 1e9;
  max_storm_in_flight_ = max_handshakes_;
  dirty_.reserve(1024);
}

Worker::~Worker() {
  if (thread_.joinable()) thread_.join();
  for (auto* pool : {&conns_, &storm_pool_})
    for (auto& c : *pool) {
      if (c->ssl) SSL_free(c->ssl);
      if (c->fd >= 0) ::close(c->fd);
    }
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Worker::add_publisher(const PublisherPlan& p) {
  const auto& o = ctx_.opt;
  auto pub = std::make_unique<Publisher>();
  pub->plan = &p;
  std::string payload(o.size, '\0');
  mqtt::encode_publish(pub->packet, o.version, p.topic, payload, o.qos, false, false, o.qos > 0 ? 1 : 0);
  mqtt::FixedHeader h;
  mqtt::parse_fixed_header(pub->packet, kMaxPacket, h);
  pub->payload_offset = pub->packet.size() - payload.size();
  pub->packet_id_offset = h.header_length + 2 + p.topic.size();
  pub->window = std::max(1u, o.inflight);
  if (o.rate > 0 && !ctx_.plan.publishers.empty())
    pub->rate_per_ns = o.rate / static_cast<double>(ctx_.plan.publishers.size()) / 1e9;
  if (ctx_.plan.end_to_end) {
    for (uint32_t j = p.subscriber_first; j < p.subscriber_first + p.subscriber_count; ++j) {
      auto& s = ctx_.subscribers.at(j);
      pub->peers.push_back(s.streams.at(p.id - s.first).get());
    }
  }
  auto c = std::make_unique<Conn>();
  c->role = Role::publisher;
  c->id = p.id;
  c->pub = pub.get();
  c->client_id = client_id('p', p.id);
  c->in_cap = kPublisherReadBuffer;
  c->out.reserve(kBatchBytes + pub->packet.size() + 64);
  publishers_.push_back(std::move(pub));
  conns_.push_back(std::move(c));
}

void Worker::add_subscriber(const SubscriberPlan& s) {
  auto c = std::make_unique<Conn>();
  c->role = Role::subscriber;
  c->id = s.id;
  c->sub = &ctx_.subscribers.at(s.id);
  c->sub_plan = &s;
  c->client_id = client_id('s', s.id);
  c->in_cap = std::clamp<size_t>(kSubscriberReadBudget / std::max<size_t>(1, ctx_.plan.subscribers.size()),
                                 16 * 1024, kSubscriberReadBuffer);
  c->out.reserve(ctx_.opt.qos > 0 ? kBatchBytes : 256);
  conns_.push_back(std::move(c));
}

void Worker::add_idle(uint32_t id) {
  auto c = std::make_unique<Conn>();
  c->role = Role::idle;
  c->id = id;
  c->client_id = client_id('c', id);
  c->in_cap = kIdleReadBuffer;
  conns_.push_back(std::move(c));
}

void Worker::start() {
  // Every worker is known by now: each takes an equal share of the storm.
  if (ctx_.plan.storm.clients_per_sec > 0)
    storm_rate_per_ns_ = ctx_.plan.storm.clients_per_sec / static_cast<double>(ctx_.workers.size()) / 1e9;
  thread_ = std::thread([this] {
    try {
      run();
    } catch (const std::exception& e) {
      ctx_.note_error(std::string("event loop: ") + e.what());
    }
    stopped.store(true);
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::wake() {
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void Worker::collect(std::vector<uint64_t>& sent, std::vector<uint64_t>& acked) const {
  for (const auto& p : publishers_) {
    sent.at(p->plan->id) = p->sent;
    acked.at(p->plan->id) = p->acked;
  }
}

// ------------------------------------------------------------------------------------------
// The loop

void Worker::run() {
  epoll_event events[kMaxEvents];
  while (true) {
    Phase phase = ctx_.phase.load(std::memory_order_acquire);
    if (phase == Phase::closing) break;
    int64_t now = now_ns();
    if (next_to_open_ < conns_.size()) open_more(now);
    if (storm_rate_per_ns_ > 0 && phase == Phase::running) storm_more(now);
    more_to_send_ = false;
    next_due_ns_ = 0;
    stall_check_ns_ = 0;
    waiting_cross_thread_ = false;
    if (phase != Phase::connecting) {
      running_seen_ = true;
      for (auto& c : conns_)
        if (c->role == Role::publisher) pump(*c, *c->pub, now);
    }
    for (size_t i = 0; i < dirty_.size(); ++i) {
      Conn* c = dirty_[i];
      c->dirty = false;
      if (c->state != State::closed) flush(*c, now);
    }
    dirty_.clear();
    storm_free_.insert(storm_free_.end(), storm_closed_.begin(), storm_closed_.end());  // off dirty_ now
    storm_closed_.clear();
    if (now - last_keep_alive_ns_ >= 1'000'000'000) keep_alive(now);
    publish_live();

    int64_t timeout = next_timeout_ns(now);
    timespec ts{static_cast<time_t>(timeout / 1'000'000'000), static_cast<long>(timeout % 1'000'000'000)};
    int n = ::epoll_pwait2(epoll_fd_, events, kMaxEvents, &ts, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("epoll_pwait2: " + errno_text(errno));
    }
    now = now_ns();
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == nullptr) {
        uint64_t v;
        [[maybe_unused]] auto r = ::read(wake_fd_, &v, sizeof v);
        continue;
      }
      on_event(*static_cast<Conn*>(events[i].data.ptr), events[i].events, now);
    }
    if (progressed_) wake_waiting_peers();
  }
  close_all();
  publish_live();
}

int64_t Worker::next_timeout_ns(int64_t now) const {
  if (more_to_send_) return 0;
  int64_t t = kIdleTimeoutNs;
  auto until = [&](int64_t when) {
    if (when > 0) t = std::min(t, std::max<int64_t>(0, when - now));
  };
  until(next_due_ns_);
  until(stall_check_ns_);
  if (waiting_cross_thread_) t = std::min<int64_t>(t, 5'000'000);  // fallback should a wake-up be missed
  if (next_to_open_ < conns_.size() && handshakes_ < max_handshakes_) {
    if (open_rate_per_ns_ > 0) {
      until(open_start_ns_ + static_cast<int64_t>(static_cast<double>(opened_) / open_rate_per_ns_));
    } else {
      t = 0;
    }
  }
  if (running_seen_ && ctx_.end_ns > now) until(ctx_.end_ns);
  if (running_seen_ && storm_rate_per_ns_ > 0 && now < ctx_.end_ns && storm_in_flight_ < max_storm_in_flight_)
    until(ctx_.storm_begin_ns + static_cast<int64_t>(static_cast<double>(storm_started_) / storm_rate_per_ns_));
  return t;
}

void Worker::publish_live() {
  live_sent.store(sent_total_, std::memory_order_relaxed);
  live_acked.store(acked_total_, std::memory_order_relaxed);
  live_received.store(received_total_, std::memory_order_relaxed);
  live_unique.store(unique_total_, std::memory_order_relaxed);
  live_expected.store(expected_total_, std::memory_order_relaxed);
  live_delivered_in_window.store(totals_.delivered_in_window, std::memory_order_relaxed);
  live_sent_in_window.store(totals_.sent_in_window, std::memory_order_relaxed);
  live_storm_clients.store(totals_.storm_clients, std::memory_order_relaxed);
}

void Worker::wake_waiting_peers() {
  progressed_ = false;
  if (ctx_.workers.size() < 2) return;
  std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with the fence in pump()
  for (Worker* w : ctx_.workers) {
    if (w == this || !w->waiting_for_peers.load(std::memory_order_relaxed)) continue;
    if (w->waiting_for_peers.exchange(false)) w->wake();
  }
}

// ------------------------------------------------------------------------------------------
// Connections

void Worker::open_more(int64_t now) {
  if (open_start_ns_ == 0) open_start_ns_ = now;
  while (next_to_open_ < conns_.size() && handshakes_ < max_handshakes_) {
    if (open_rate_per_ns_ > 0 && static_cast<double>(opened_) > static_cast<double>(now - open_start_ns_) * open_rate_per_ns_)
      break;
    Conn& c = *conns_[next_to_open_++];
    ++opened_;
    ++handshakes_;
    open(c, now);
  }
}

void Worker::open(Conn& c, int64_t now) {
  c.connect_start_ns = now;
  c.in = std::make_unique_for_overwrite<char[]>(c.in_cap);
  c.fd = ::socket(ctx_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) {
    int e = errno;
    fail(c, e == EMFILE || e == ENFILE
                ? fmt::format("socket(): {} (the open-file limit is reached: run fewer connections per process)",
                              errno_text(e))
                : "socket(): " + errno_text(e));
    return;
  }
  int one = 1;
  ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c.state = State::tcp_connecting;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.ptr = &c;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) {
    fail(c, "epoll_ctl: " + errno_text(errno));
    return;
  }
  c.epollout = true;
  if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&ctx_.addr), ctx_.addr_len) == 0) {
    on_tcp_connected(c, now);
  } else if (errno != EINPROGRESS) {
    fail(c, fmt::format("connect to {}: {}", ctx_.addr_text, errno_text(errno)));
  }
}

void Worker::on_tcp_connected(Conn& c, int64_t now) {
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    fail(c, fmt::format("connect to {}: {}", ctx_.addr_text, errno_text(err)));
    return;
  }
  if (ctx_.tls) {
    c.ssl = SSL_new(ctx_.tls);
    if (!c.ssl || SSL_set_fd(c.ssl, c.fd) != 1) {
      fail(c, "TLS: " + tls_error_text());
      return;
    }
    SSL_set_connect_state(c.ssl);
    if (!ctx_.opt.cafile.empty()) SSL_set1_host(c.ssl, ctx_.opt.host.c_str());
    SSL_set_tlsext_host_name(c.ssl, ctx_.opt.host.c_str());
    c.state = State::tls_handshaking;
    tls_handshake(c, now);
    return;
  }
  send_connect(c, now);
}

void Worker::tls_handshake(Conn& c, int64_t now) {
  ERR_clear_error();
  int r = SSL_do_handshake(c.ssl);
  if (r == 1) {
    if (c.epollout) watch(c, false);
    send_connect(c, now);
    return;
  }
  int e = SSL_get_error(c.ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    if ((e == SSL_ERROR_WANT_WRITE) != c.epollout) watch(c, e == SSL_ERROR_WANT_WRITE);
    return;
  }
  fail(c, fmt::format("TLS handshake with {}: {}", ctx_.addr_text, tls_error_text()));
}

// The socket's bytes, through TLS when it is on: recv()'s contract (-1 with errno EAGAIN when
// nothing is there yet, 0 at the end).
ssize_t Worker::read_some(Conn& c, char* buf, size_t len) {
  if (!c.ssl) return ::recv(c.fd, buf, len, 0);
  ERR_clear_error();
  int n = SSL_read(c.ssl, buf, static_cast<int>(std::min<size_t>(len, INT_MAX)));
  if (n > 0) return n;
  int e = SSL_get_error(c.ssl, n);
  if (e == SSL_ERROR_ZERO_RETURN) return 0;
  errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN : EIO;
  return -1;
}

// send()'s contract, through TLS when it is on.
ssize_t Worker::write_some(Conn& c, const char* data, size_t len) {
  if (!c.ssl) return ::send(c.fd, data, len, MSG_NOSIGNAL);
  ERR_clear_error();
  int n = SSL_write(c.ssl, data, static_cast<int>(std::min<size_t>(len, INT_MAX)));
  if (n > 0) return n;
  int e = SSL_get_error(c.ssl, n);
  errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN : EIO;
  return -1;
}

void Worker::send_connect(Conn& c, int64_t now) {
  const auto& o = ctx_.opt;
  mqtt::Connect connect;
  connect.version = o.version;
  const bool persistent = o.persistent_subscribers && c.role == Role::subscriber;
  connect.clean_start = !persistent;
  if (persistent && o.version == mqtt::Version::v5)
    connect.props.add_number(mqtt::PropertyId::session_expiry_interval, 300);
  connect.keep_alive = o.keep_alive_s;
  connect.client_id = c.client_id;
  if (!o.username.empty()) connect.username = o.username;
  if (!o.password.empty()) connect.password = o.password;
  if (o.version == mqtt::Version::v5 && c.role == Role::subscriber)
    connect.props.add_number(mqtt::PropertyId::receive_maximum, 65535);
  c.out.clear();
  c.out_offset = 0;
  mqtt::encode(connect, o.version, c.out);
  for (int i = 0; i < 4; ++i) {
    mqtt::PubAck a;
    a.type = static_cast<mqtt::PacketType>(static_cast<int>(mqtt::PacketType::puback) + i);
    a.packet_id = 0xFFFF;
    c.acks[i].clear();
    mqtt::encode(a, o.version, c.acks[i]);
  }
  c.state = State::mqtt_connecting;
  flush(c, now);
}

void Worker::on_ready(Conn& c, int64_t now) {
  c.state = State::ready;
  --handshakes_;
  ++totals_.connected;
  totals_.connect_latency.record(static_cast<uint64_t>(now - c.connect_start_ns));
  ctx_.ready.fetch_add(1);
}

// ------------------------------------------------------------------------------------------
// The storm

void Worker::storm_more(int64_t now) {
  if (now < ctx_.storm_begin_ns || now >= ctx_.end_ns) return;
  auto due = static_cast<uint64_t>(static_cast<double>(now - ctx_.storm_begin_ns) * storm_rate_per_ns_) + 1;
  unsigned threads = static_cast<unsigned>(ctx_.workers.size());
  while (storm_started_ < due && storm_in_flight_ < max_storm_in_flight_) {
    Conn* c;
    if (storm_free_.empty()) {
      storm_pool_.push_back(std::make_unique<Conn>());
      c = storm_pool_.back().get();
    } else {
      c = storm_free_.back();
      storm_free_.pop_back();
    }
    uint64_t client = storm_started_++ * threads + index_;  // unique over the workers
    *c = Conn{};
    c->role = Role::storm;
    c->id = static_cast<uint32_t>(client);
    c->client_id = fmt::format("mqb{:x}x{}", ::getpid(), client);
    c->in_cap = kIdleReadBuffer;
    ++storm_in_flight_;
    open(*c, now);
  }
}

void Worker::on_storm_suback(Conn& c, const mqtt::Suback& a, int64_t now) {
  for (uint8_t code : a.codes) {
    if (code >= 0x80) {
      fail(c, fmt::format("subscription refused: SUBACK code 0x{:02x}", code));
      return;
    }
  }
  if (a.codes.size() != ctx_.plan.storm.filters) {
    fail(c, fmt::format("SUBACK with {} codes for {} filters", a.codes.size(), ctx_.plan.storm.filters));
    return;
  }
  totals_.storm_latency.record(static_cast<uint64_t>(now - c.connect_start_ns));
  mqtt::encode(mqtt::Disconnect{}, ctx_.opt.version, c.out);
  mark_dirty(c);
  c.state = State::disconnecting;
}

// The broker closed a storm client's connection (done, after its DISCONNECT) or something went
// wrong on the way (counted as a failure unless the run is closing anyway).
void Worker::end_storm_client(Conn& c, const std::string& why) {
  bool done = c.state == State::disconnecting;
  close_conn(c);
  --storm_in_flight_;
  storm_closed_.push_back(&c);
  if (done) {
    ++totals_.storm_clients;
    if (now_ns() < ctx_.end_ns) ++totals_.storm_clients_in_window;
  } else if (ctx_.phase.load() != Phase::closing) {
    ++totals_.storm_failures;
    ctx_.note_error(fmt::format("storm client {}: {}", c.client_id, why));
  }
}

void Worker::fail(Conn& c, const std::string& why) {
  if (c.role == Role::storm) return end_storm_client(c, why);
  bool was_ready = c.state == State::ready;
  bool during_setup = c.state != State::ready && c.state != State::closed;
  close_conn(c);
  if (during_setup) {
    --handshakes_;
    ctx_.failed.fetch_add(1);
    ctx_.note_error(why);
  } else if (was_ready && ctx_.phase.load() != Phase::closing) {
    ++totals_.disconnects;
    ctx_.note_error(fmt::format("{} lost its connection: {}", c.client_id, why));
  }
}

void Worker::close_conn(Conn& c) {
  if (c.ssl) {
    SSL_free(c.ssl);
    c.ssl = nullptr;
  }
  if (c.fd >= 0) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
  }
  c.fd = -1;
  c.state = State::closed;
  c.out.clear();
  c.out_offset = 0;
}

void Worker::close_all() {
  int64_t now = now_ns();
  for (auto& c : storm_pool_)
    if (c->state != State::closed && c->state != State::pending) close_conn(*c);
  for (auto& c : conns_) {
    if (c->state == State::closed || c->state == State::pending) continue;
    if (c->state != State::tcp_connecting) {
      mqtt::encode(mqtt::Disconnect{}, ctx_.opt.version, c->out);
      flush(*c, now);  // best effort: whatever fits in the socket buffer now
    }
    if (c->state != State::closed) close_conn(*c);
  }
}

void Worker::keep_alive(int64_t now) {
  last_keep_alive_ns_ = now;
  if (ctx_.opt.keep_alive_s == 0) return;
  int64_t idle = int64_t{ctx_.opt.keep_alive_s} * 500'000'000;  // half the keep-alive
  for (auto& c : conns_) {
    if (c->state != State::ready || now - c->last_send_ns < idle) continue;
    mqtt::encode(mqtt::Pingreq{}, ctx_.opt.version, c->out);
    mark_dirty(*c);
  }
}

// ------------------------------------------------------------------------------------------
// Reading

void Worker::on_event(Conn& c, uint32_t events, int64_t now) {
  if (c.state == State::closed) return;
  if (c.state == State::tcp_connecting) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_tcp_connected(c, now);
    return;
  }
  if (c.state == State::tls_handshaking) {
    tls_handshake(c, now);
    return;
  }
  if (events & EPOLLOUT) {
    flush(c, now);
    if (c.state == State::closed) return;
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
}

void Worker::on_readable(Conn& c) {
  // TLS may hold decrypted bytes the socket no longer signals: read them too.
  for (int round = 0; round < 4 || (c.ssl && SSL_pending(c.ssl) > 0); ++round) {
    if (c.in_len == c.in_cap) {  // one packet larger than the buffer: grow to hold it
      mqtt::FixedHeader h;
      mqtt::parse_fixed_header({c.in.get(), c.in_len}, kMaxPacket, h);
      size_t need = std::max(c.in_cap * 2, h.total());
      auto bigger = std::make_unique_for_overwrite<char[]>(need);
      std::memcpy(bigger.get(), c.in.get(), c.in_len);
      c.in = std::move(bigger);
      c.in_cap = need;
    }
    ssize_t n = read_some(c, c.in.get() + c.in_len, c.in_cap - c.in_len);
    if (n == 0) {
      fail(c, "closed by the broker");
      return;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      fail(c, "recv: " + errno_text(errno));
      return;
    }
    bool filled = static_cast<size_t>(n) == c.in_cap - c.in_len;
    c.in_len += static_cast<size_t>(n);
    int64_t now = now_ns();  // one clock read per recv: the receive time of its packets
    size_t off = 0;
    while (off < c.in_len) {
      mqtt::FixedHeader h;
      std::string_view rest(c.in.get() + off, c.in_len - off);
      auto st = mqtt::parse_fixed_header(rest, kMaxPacket, h);
      if (st == mqtt::FrameStatus::need_more) break;
      if (st != mqtt::FrameStatus::ok) {
        fail(c, "malformed packet from the broker");
        return;
      }
      if (!handle_packet(c, h, rest.substr(h.header_length, h.remaining_length), now)) return;
      off += h.total();
    }
    if (off > 0) {
      std::memmove(c.in.get(), c.in.get() + off, c.in_len - off);
      c.in_len -= off;
    }
    if (!filled) return;
  }
}

bool Worker::handle_packet(Conn& c, const mqtt::FixedHeader& h, std::string_view body, int64_t now) {
  const auto& o = ctx_.opt;
  auto r = mqtt::decode_packet(h, body, o.version, packet_);
  if (!r.ok()) {
    fail(c, fmt::format("undecodable {} from the broker: {}", mqtt::packet_type_name(h.type), r.error));
    return false;
  }
  switch (h.type) {
    case mqtt::PacketType::publish:
      on_publish(c, std::get<mqtt::Publish>(packet_), now);
      return true;
    case mqtt::PacketType::puback:
    case mqtt::PacketType::pubcomp: {
      const auto& a = std::get<mqtt::PubAck>(packet_);
      if (static_cast<uint8_t>(a.reason) >= 0x80) ++totals_.ack_errors;
      if (c.pub) {
        ++c.pub->acked;
        ++acked_total_;
      }
      return true;
    }
    case mqtt::PacketType::pubrec: {
      const auto& a = std::get<mqtt::PubAck>(packet_);
      if (static_cast<uint8_t>(a.reason) >= 0x80) {  // v5: the broker refused; no PUBREL follows
        ++totals_.ack_errors;
        if (c.pub) ++c.pub->acked, ++acked_total_;
        return true;
      }
      append_ack(c, mqtt::PacketType::pubrel, a.packet_id);
      return true;
    }
    case mqtt::PacketType::pubrel:
      append_ack(c, mqtt::PacketType::pubcomp, std::get<mqtt::PubAck>(packet_).packet_id);
      return true;
    case mqtt::PacketType::connack: {
      const auto& a = std::get<mqtt::Connack>(packet_);
      if (c.state != State::mqtt_connecting) return true;
      if (a.code != 0) {
        fail(c, fmt::format("{} refused by the broker: CONNACK code 0x{:02x}", c.client_id, a.code));
        return false;
      }
      if (c.pub && o.qos > 0) {
        if (auto rm = a.props.number(mqtt::PropertyId::receive_maximum)) c.pub->window = std::min(c.pub->window, *rm);
      }
      if (c.role == Role::subscriber || c.role == Role::storm) {
        std::vector<std::string> storm;  // a storm client's filters (the SUBSCRIBE holds views)
        mqtt::Subscribe s;
        s.packet_id = 1;
        if (c.role == Role::storm) {
          storm = storm_filters(ctx_.plan, c.id);
          for (const auto& f : storm) s.subscriptions.push_back({f, o.qos});
        } else {
          s.subscriptions.push_back({c.sub_plan->filter, o.qos});
        }
        mqtt::encode(s, o.version, c.out);
        mark_dirty(c);
        c.state = State::subscribing;
      } else {
        on_ready(c, now);
      }
      return true;
    }
    case mqtt::PacketType::suback: {
      const auto& a = std::get<mqtt::Suback>(packet_);
      if (c.state != State::subscribing) return true;
      if (c.role == Role::storm) {
        on_storm_suback(c, a, now);
        return c.state != State::closed;
      }
      if (a.codes.empty() || a.codes[0] >= 0x80) {
        fail(c, fmt::format("subscription to '{}' refused: SUBACK code 0x{:02x}", c.sub_plan->filter,
                            a.codes.empty() ? 0 : a.codes[0]));
        return false;
      }
      on_ready(c, now);
      return true;
    }
    case mqtt::PacketType::disconnect: {
      const auto& d = std::get<mqtt::Disconnect>(packet_);
      fail(c, fmt::format("DISCONNECT from the broker, reason 0x{:02x}", static_cast<unsigned>(d.reason)));
      return false;
    }
    default:
      return true;  // PINGRESP, and anything a bench client need not act on
  }
}

void Worker::on_publish(Conn& c, const mqtt::Publish& p, int64_t now) {
  if (p.qos == 1) append_ack(c, mqtt::PacketType::puback, p.packet_id);
  if (p.qos == 2) append_ack(c, mqtt::PacketType::pubrec, p.packet_id);
  if (!c.sub) return;
  ++received_total_;
  ++totals_.received;
  if (running_seen_ && now >= ctx_.measure_begin_ns && now < ctx_.end_ns) {
    ++totals_.delivered_in_window;
    if (now >= ctx_.storm_begin_ns) ++totals_.delivered_in_storm;
  }
  auto h = read_payload_header(p.payload);
  if (!h) {
    ++totals_.foreign;
    return;
  }
  SubscriberStreams& subs = *c.sub;
  Stream* stream = nullptr;
  if (subs.known) {
    if (h->publisher >= subs.first && h->publisher - subs.first < subs.streams.size())
      stream = subs.streams[h->publisher - subs.first].get();
  } else if (h->publisher < (1u << 20)) {
    if (h->publisher >= subs.streams.size()) subs.streams.resize(h->publisher + 1);  // once per new publisher
    auto& slot = subs.streams[h->publisher];
    if (!slot) slot = std::make_unique<Stream>(false);
    stream = slot.get();
  }
  if (!stream) {
    ++totals_.foreign;
    return;
  }
  // Sequence numbers travel as 32 bits: widen relative to the stream's position.
  uint64_t next = stream->tracker.next();
  int64_t widened = static_cast<int64_t>(next) + static_cast<int32_t>(h->sequence - static_cast<uint32_t>(next));
  uint64_t seq = widened >= 0 ? static_cast<uint64_t>(widened) : h->sequence;
  if (stream->tracker.on_message(seq) != StreamTracker::Arrival::duplicate) ++unique_total_;
  stream->progress.store(stream->tracker.next(), std::memory_order_relaxed);
  progressed_ = true;
  if (running_seen_ && static_cast<int64_t>(h->sent_ns) >= ctx_.measure_begin_ns && now >= static_cast<int64_t>(h->sent_ns))
    totals_.latency.record(static_cast<uint64_t>(now - static_cast<int64_t>(h->sent_ns)));
}

// ------------------------------------------------------------------------------------------
// Writing

void Worker::append_ack(Conn& c, mqtt::PacketType type, uint16_t packet_id) {
  const std::string& t = c.acks[static_cast<int>(type) - static_cast<int>(mqtt::PacketType::puback)];
  size_t at = c.out.size();
  c.out.append(t);
  c.out[at + 2] = static_cast<char>(packet_id >> 8);
  c.out[at + 3] = static_cast<char>(packet_id & 0xFF);
  mark_dirty(c);
}

void Worker::mark_dirty(Conn& c) {
  if (c.dirty) return;
  c.dirty = true;
  dirty_.push_back(&c);
}

void Worker::pump(Conn& c, Publisher& p, int64_t now) {
  if (c.state != State::ready || now >= ctx_.end_ns) return;
  if (c.out_offset < c.out.size()) return;  // the last batch is still being written
  const auto& o = ctx_.opt;
  uint64_t allowance = std::max<size_t>(1, kBatchBytes / p.packet.size());
  if (o.qos > 0) {
    uint64_t outstanding = p.sent - p.acked;
    allowance = std::min<uint64_t>(allowance, p.window > outstanding ? p.window - outstanding : 0);
  }
  if (!p.peers.empty()) {
    auto min_progress = [&] {
      uint64_t m = UINT64_MAX;
      for (Stream* s : p.peers) m = std::min(m, s->progress.load(std::memory_order_relaxed));
      return m;
    };
    uint64_t progress = min_progress();
    if (progress != p.last_progress || p.progress_ns == 0) {
      p.last_progress = progress;
      p.progress_ns = now;
    }
    uint64_t base = std::max(progress, p.e2e_floor);
    uint64_t outstanding = p.sent > base ? p.sent - base : 0;
    if (outstanding >= p.window) {
      if (now - p.progress_ns >= kStallNs) {
        // Nothing arrived for a second: what is in flight is lost (QoS 0 dropped by the
        // broker). Start a fresh window rather than wait for ever; the loss is counted.
        p.e2e_floor = p.sent;
        p.progress_ns = now;
        ++totals_.stalls;
        outstanding = 0;
      } else {
        if (ctx_.workers.size() > 1) {
          waiting_for_peers.store(true, std::memory_order_relaxed);
          std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with wake_waiting_peers()
          waiting_cross_thread_ = true;
          if (min_progress() != progress) more_to_send_ = true;  // progressed meanwhile: look again
        }
        int64_t give_up = p.progress_ns + kStallNs;
        if (stall_check_ns_ == 0 || give_up < stall_check_ns_) stall_check_ns_ = give_up;
        return;
      }
    }
    allowance = std::min<uint64_t>(allowance, p.window - outstanding);
  }
  if (p.rate_per_ns > 0) {
    double elapsed = static_cast<double>(std::max<int64_t>(0, now - ctx_.start_ns));
    auto due = static_cast<uint64_t>(elapsed * p.rate_per_ns) + 1;
    uint64_t can = due > p.sent ? due - p.sent : 0;
    if (can < allowance || can == 0) {
      int64_t next = ctx_.start_ns + static_cast<int64_t>(std::ceil(static_cast<double>(p.sent + can) / p.rate_per_ns));
      if (next_due_ns_ == 0 || next < next_due_ns_) next_due_ns_ = next;
    }
    allowance = std::min(allowance, can);
  }
  if (allowance == 0) return;

  int64_t ts = now_ns();
  bool in_window = ts >= ctx_.measure_begin_ns;
  PayloadHeader header{p.plan->id, 0, static_cast<uint64_t>(ts)};
  for (uint64_t k = 0; k < allowance; ++k) {
    size_t at = c.out.size();
    c.out.append(p.packet);
    char* pkt = c.out.data() + at;
    header.sequence = static_cast<uint32_t>(p.sent);
    write_payload_header(header, pkt + p.payload_offset);
    if (o.qos > 0) {
      auto id = static_cast<uint16_t>(p.sent % 65535 + 1);
      pkt[p.packet_id_offset] = static_cast<char>(id >> 8);
      pkt[p.packet_id_offset + 1] = static_cast<char>(id & 0xFF);
    }
    ++p.sent;
  }
  sent_total_ += allowance;
  expected_total_ += allowance * p.plan->subscriber_count;
  if (in_window) totals_.sent_in_window += allowance;
  if (allowance == std::max<size_t>(1, kBatchBytes / p.packet.size())) more_to_send_ = true;
  flush(c, now);
}

bool Worker::flush(Conn& c, int64_t now) {
  while (c.out_offset < c.out.size()) {
    ssize_t n = write_some(c, c.out.data() + c.out_offset, c.out.size() - c.out_offset);
    if (n > 0) {
      c.out_offset += static_cast<size_t>(n);
      c.last_send_ns = now;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    fail(c, "send: " + errno_text(errno));
    return false;
  }
  bool pending = c.out_offset < c.out.size();
  if (!pending) {
    c.out.clear();
    c.out_offset = 0;
  }
  if (pending != c.epollout) watch(c, pending);
  return true;
}

void Worker::watch(Conn& c, bool want_write) {
  epoll_event ev{};
  ev.events = want_write ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
  ev.data.ptr = &c;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  c.epollout = want_write;
}

}  // namespace mqbase::bench
