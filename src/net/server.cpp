#include "net/server.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <thread>

#include "broker/sys_topics.h"
#include "net/connection.h"
#include "net/event_loop.h"
#include "net/listener.h"

namespace mqbase::net {

namespace asio = boost::asio;
using asio::ip::tcp;

struct Server::Impl {
  broker::Broker& broker;
  ServerOptions options;
  std::vector<std::unique_ptr<EventLoop>> loops;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::vector<std::shared_ptr<Listener>> listeners;  // acceptors[i] accepts for listeners[i]
  std::shared_ptr<Listener> handover;  // WebSocket connections the HTTP server hands over
  std::vector<BoundListener> bound;
  std::unique_ptr<asio::posix::stream_descriptor> signals;  // a signalfd for SIGINT, SIGTERM
  signalfd_siginfo signal_info{};
  std::unique_ptr<asio::steady_timer> sys_timer;
  std::unique_ptr<asio::steady_timer> broker_timer;  // will delays, session expiry
  broker::SysTopics sys;
  std::atomic<size_t> next_loop{0};
  std::atomic<bool> stopping{false};

  Impl(broker::Broker& b, ServerOptions o) : broker(b), options(std::move(o)), sys(b) {}
  ~Impl() { broker.set_sys_refresh(nullptr); }  // the loops are joined: no SUBSCRIBE runs now

  EventLoop& control() { return *loops[0]; }

  // Accepts on readiness: takes every connection the kernel has queued (accept4, so the
  // sockets never become Asio objects) and deals them round robin to the loops, where each
  // stays for its whole life.
  void accept(tcp::acceptor& acceptor, const std::shared_ptr<Listener>& listener) {
    acceptor.async_wait(tcp::acceptor::wait_read, [this, &acceptor, &listener](const boost::system::error_code& ec) {
      if (stopping || ec == asio::error::operation_aborted) return;
      for (int i = 0; i < 256; ++i) {
        sockaddr_storage sa{};
        socklen_t len = sizeof sa;
        int fd = ::accept4(acceptor.native_handle(), reinterpret_cast<sockaddr*>(&sa), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          // Out of file descriptors and the like: back off briefly instead of spinning.
          spdlog::warn("accept failed: {}", std::strerror(errno));
          auto t = std::make_shared<asio::steady_timer>(control().context(), std::chrono::milliseconds(100));
          t->async_wait([this, &acceptor, &listener, t](const boost::system::error_code&) {
            if (!stopping) accept(acceptor, listener);
          });
          return;
        }
        if (admit(fd, "connection")) deal(fd, listener, {}, {}, peer_text(sa));
      }
      accept(acceptor, listener);
    });
  }

  // limits.max_connections counts sockets, not only connected clients: a flood of sockets that
  // never send CONNECT counts until their connect_timeout closes them. Over it, `fd` is closed
  // and false returned; else it counts in sockets_open until its Connection goes.
  bool admit(int fd, const char* what) {
    uint32_t max = broker.limits().max_connections;
    if (max != 0 && broker::Stats::get(broker.stats().sockets_open) >= max) {
      spdlog::warn("refusing {}: max_connections ({}) reached", what, max);
      ::close(fd);
      return false;
    }
    broker::Stats::add(broker.stats().sockets_open);
    return true;
  }

  // The socket goes to the next loop, round robin, where it stays for its whole life. `peer`:
  // see Connection.
  void deal(int fd, const std::shared_ptr<Listener>& listener, std::string greeting, std::string input,
            std::string peer) {
    EventLoop& target = *loops[next_loop.fetch_add(1, std::memory_order_relaxed) % loops.size()];
    if (&target == EventLoop::current() && greeting.empty() && input.empty()) {
      target.adopt(fd, listener, {}, {}, std::move(peer));
      return;
    }
    asio::post(target.context(), [&target, fd, listener, greeting = std::move(greeting), input = std::move(input),
                                  peer = std::move(peer)]() mutable {
      target.adopt(fd, listener, std::move(greeting), std::move(input), std::move(peer));
    });
  }

  // SIGHUP: the listeners' certificates, then what the application reloads (passwords, ACLs).
  // A file that fails to load is logged and the one in use stays.
  void reload() {
    spdlog::info("SIGHUP: reloading");
    for (auto& l : listeners) {
      std::string why;
      if (!l->reload_tls(&why))
        spdlog::error("listener {}: TLS not reloaded, the certificate in use stays: {}", l->security().listener, why);
      else if (l->options().tls.enabled())
        spdlog::info("listener {}: TLS reloaded: {}", l->security().listener, l->tls_description());
    }
    if (options.on_reload) options.on_reload();
  }

  void schedule_sys() {
    sys_timer->expires_after(std::chrono::seconds(options.sys_interval_s));
    sys_timer->async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopping) return;
      sys.publish();
      schedule_sys();
    });
  }

  void schedule_broker_tick() {
    broker_timer->expires_after(std::chrono::milliseconds(250));
    broker_timer->async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopping) return;
      broker.tick(broker::Clock::now());
      schedule_broker_tick();
    });
  }

  void wait_signal() {
    signals->async_wait(asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
      if (ec) return;  // cancelled: shutting down
      ssize_t n = ::read(signals->native_handle(), &signal_info, sizeof signal_info);
      if (n != static_cast<ssize_t>(sizeof signal_info)) {  // EAGAIN: another reader was first
        wait_signal();
        return;
      }
      if (signal_info.ssi_signo == SIGHUP) {
        reload();
        wait_signal();
        return;
      }
      spdlog::info("signal {} received", signal_info.ssi_signo);
      stop();
    });
  }

  void stop() {
    if (stopping.exchange(true)) return;
    asio::post(control().context(), [this] {
      spdlog::info("shutting down");
      boost::system::error_code ec;
      for (auto& a : acceptors) a->close(ec);
      if (sys_timer) sys_timer->cancel();
      if (broker_timer) broker_timer->cancel();
      if (signals) signals->cancel();
      for (auto& loop : loops) loop->shutdown();
    });
  }
};

Server::Server(broker::Broker& broker, ServerOptions options)
    : impl_(std::make_unique<Impl>(broker, std::move(options))) {
  unsigned n = impl_->options.threads;
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) impl_->loops.push_back(std::make_unique<EventLoop>(broker, i));
}

Server::~Server() = default;

void Server::start() {
  auto& ctx = impl_->control().context();
  for (const auto& l : impl_->options.listeners) {
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(l.bind, ec);
    if (ec) throw std::runtime_error("invalid bind address '" + l.bind + "'");
    tcp::endpoint ep(addr, l.port);
    auto acceptor = std::make_unique<tcp::acceptor>(ctx);
    acceptor->open(ep.protocol(), ec);
    if (!ec) acceptor->non_blocking(true, ec);
    if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    // Accepted sockets inherit it (Linux), so a new connection needs no setsockopt of its own.
    if (!ec) acceptor->set_option(tcp::no_delay(true), ec);
    if (!ec) acceptor->bind(ep, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error(fmt::format("cannot listen on {}:{}: {}", l.bind, l.port, ec.message()));
    auto local = acceptor->local_endpoint();
    auto listener = std::make_shared<Listener>(l, local.port());
    std::string why;
    if (!listener->reload_tls(&why))
      throw std::runtime_error(fmt::format("listener {}:{}: {}", l.bind, l.port, why));
    impl_->bound.push_back({l.bind, local.port()});
    spdlog::info("MQTT listening on {}", listener->describe());
    if (l.tls.enabled()) spdlog::info("  certificate: {}", listener->tls_description());
    impl_->acceptors.push_back(std::move(acceptor));
    impl_->listeners.push_back(std::move(listener));
  }
  for (size_t i = 0; i < impl_->acceptors.size(); ++i) impl_->accept(*impl_->acceptors[i], impl_->listeners[i]);
  // SIGINT and SIGTERM are read from a signalfd by the control loop, not taken by a signal
  // handler: blocked in this thread they stay blocked in every loop thread it starts (the
  // store's threads start with them blocked too), so the kernel keeps them pending for the
  // signalfd. No thread is interrupted, and there is no handler for ThreadSanitizer to defer:
  // with an asynchronous handler a TSan build sometimes sat on a SIGTERM for good.
  sigset_t quit;
  sigemptyset(&quit);
  sigaddset(&quit, SIGINT);
  sigaddset(&quit, SIGTERM);
  sigaddset(&quit, SIGHUP);  // not a quit signal: a reload
  pthread_sigmask(SIG_BLOCK, &quit, nullptr);
  int sfd = ::signalfd(-1, &quit, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) throw std::runtime_error(fmt::format("signalfd: {}", std::strerror(errno)));
  impl_->signals = std::make_unique<asio::posix::stream_descriptor>(ctx, sfd);
  impl_->wait_signal();
  impl_->broker_timer = std::make_unique<asio::steady_timer>(ctx);
  impl_->schedule_broker_tick();
  if (impl_->options.sys_interval_s > 0) {
    impl_->sys_timer = std::make_unique<asio::steady_timer>(ctx);
    impl_->broker.set_sys_refresh([impl = impl_.get()] { impl->sys.publish(); });
    asio::post(ctx, [this] { impl_->sys.publish(); });
    impl_->schedule_sys();
  }
}

std::vector<BoundListener> Server::bound() const { return impl_->bound; }

void Server::run() {
  for (auto& loop : impl_->loops) loop->start_thread();
  for (auto& loop : impl_->loops) loop->join();
}

void Server::stop() { impl_->stop(); }

void Server::accept_websocket_handover(const ListenerOptions& http_side) {
  auto o = http_side;
  o.protocol = ListenerOptions::Protocol::websockets;
  impl_->handover = std::make_shared<Listener>(o, o.port, /*handed_over=*/true);
}

void Server::adopt_websocket(int fd, std::string greeting, std::string input, std::string peer) {
  auto& impl = *impl_;
  if (!impl.handover || impl.stopping) {
    ::close(fd);
    return;
  }
  if (impl.admit(fd, "WebSocket connection"))
    impl.deal(fd, impl.handover, std::move(greeting), std::move(input), std::move(peer));
}

std::function<void(uint64_t)> Server::durable_notifier() {
  return [impl = impl_.get()](uint64_t lsn) {
    for (auto& loop : impl->loops) loop->durable_advanced(lsn);
  };
}

}  // namespace mqbase::net
