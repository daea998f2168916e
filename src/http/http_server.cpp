// HttpServer: see http_server.h. Everything Beast and Asio of the HTTP side is in this file.
//
// One I/O thread runs an io_context of its own. A Connection reads one request at a time
// (header first, so that a too-large body is refused with 413 before it is read), hands it to
// the Router and then either writes the Response the router gave, or waits for its Answer:
// the thread that produces the answer (a query pool thread, the ingest reply thread) wakes the
// connection through a Poster, and the connection writes what is there: a whole response, or
// a chunked stream piece by piece (the answer's back-pressure holds the producer while a piece
// is being written). While it waits, it watches its socket: a client that closes cancels the
// query (Answer::cancel sets QueryOptions::cancel).
//
// Lifetimes: a connection lives as long as an operation of it is pending or an answer is
// outstanding (pending_self_). Threads other than the I/O thread hold only Answers and weak
// pointers, so a connection is always destroyed on the I/O thread (or when the stopped
// io_context goes).
#include "http/http_server.h"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "http/answer.h"
#include "http/router.h"
#include "query/format.h"
#include "store/thread_setup.h"

namespace mqbase::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

namespace {

constexpr std::string_view kServerName = "mqbase/" MQBASE_VERSION;
constexpr auto kStopGrace = std::chrono::seconds(2);
constexpr auto kLingerTime = std::chrono::seconds(5);
constexpr uint64_t kLingerBytes = 256ull << 20;

// Posts work to the I/O thread; after close() (the server stopped) drops it.
class Poster {
 public:
  explicit Poster(asio::io_context& ctx) : ctx_(&ctx) {}
  void post(std::function<void()> fn) {
    std::lock_guard lock(mu_);
    if (ctx_) asio::post(*ctx_, std::move(fn));
  }
  void close() {
    std::lock_guard lock(mu_);
    ctx_ = nullptr;
  }

 private:
  std::mutex mu_;
  asio::io_context* ctx_;
};

std::string to_std(beast::string_view s) { return std::string(s.data(), s.size()); }

// A header value as it may go on the wire: no CR/LF, at most 1000 bytes.
std::string field_value(std::string_view v) {
  std::string s(v.substr(0, 1000));
  for (char& c : s)
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  return s;
}

bool contains_token(std::string_view list, std::string_view token) {
  size_t i = 0;
  while (i < list.size()) {
    size_t comma = list.find(',', i);
    std::string_view item = list.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    i = comma + 1;
  }
  return false;
}

class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  // The server stops: close now if idle, else after the answer under way.
  virtual void server_stopping() = 0;
  virtual void force_close() = 0;
};

// The server's state shared by its connections (I/O thread only, but for what says so).
struct ServerCore {
  // Declared before the io_context, so that they outlive it: its destruction destroys the
  // handlers of connections still pending, whose destructors come here.
  std::unordered_map<uint64_t, std::weak_ptr<ConnectionBase>> connections;
  bool destroying = false;

  asio::io_context ioc{1};
  HttpServerOptions options;
  std::shared_ptr<Poster> poster = std::make_shared<Poster>(ioc);  // any thread
  QueryPool writes;
  Router router;
  UpgradeHandler upgrade;
  tcp::acceptor acceptor{ioc};
  asio::steady_timer accept_backoff{ioc};
  asio::steady_timer stop_timer{ioc};
  ListenAddress bound;
  uint64_t next_id = 0;
  bool stopping = false;
  // HTTPS: the context new connections get (null: plain HTTP). Each connection keeps its own
  // reference, so a SIGHUP's new one replaces it for later connections only.
  std::shared_ptr<asio::ssl::context> tls;

  void set_tls(const std::shared_ptr<const net::TlsContext>& t) {
    if (!t) return;
    SSL_CTX* native = t->native_handle();
    SSL_CTX_up_ref(native);  // asio's context frees its handle
    tls = std::make_shared<asio::ssl::context>(native);
  }

  ServerCore(HttpServerOptions o, Execute execute, ingest::Ingest* ingest, QueryPool& queries,
             store::tables::Tables* tables)
      : options(std::move(o)),
        writes("mqbase-hwrite", 1, options.write_queue),
        router(std::move(execute), ingest, queries, writes, options.query, tables) {}
  ~ServerCore() { destroying = true; }

  void accept();
  void begin_stop();
  void connection_gone(uint64_t id) {
    connections.erase(id);
    if (!destroying && stopping && connections.empty()) stop_timer.cancel();
  }
  std::vector<std::shared_ptr<ConnectionBase>> live() {
    std::vector<std::shared_ptr<ConnectionBase>> out;
    for (auto& [id, w] : connections)
      if (auto c = w.lock()) out.push_back(std::move(c));
    return out;
  }
};

// One HTTP connection. A template on its stream: beast::tcp_stream, or TlsStream (HTTPS), which
// starts with a handshake.
template <class Stream>
class Connection : public ConnectionBase, public std::enable_shared_from_this<Connection<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  // `keep`: what the stream needs alive (its TLS context).
  Connection(ServerCore& server, Stream stream, uint64_t id, std::string peer, std::shared_ptr<void> keep = nullptr)
      : server_(server),
        keep_(std::move(keep)),
        stream_(std::move(stream)),
        buffer_(1 << 20),
        id_(id),
        peer_(std::move(peer)) {}

  ~Connection() override {
    if (answer_) answer_->cancel();
    server_.connection_gone(id_);
  }

  void start() {
    if constexpr (kTls) {
      // The handshake within http.read_timeout, as a request's header.
      lowest().expires_after(server_.options.read_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
        if (ec) {
          spdlog::debug("http: {}: TLS handshake failed: {}", self->peer_, ec.message());
          return self->close();
        }
        self->read_request();
      });
    } else {
      read_request();
    }
  }

  void server_stopping() override {
    keep_alive_ = false;
    if (idle_) close();
  }
  void force_close() override { close(); }

 private:
  using Self = Connection<Stream>;

  auto& lowest() { return beast::get_lowest_layer(stream_); }

  // --- reading a request ------------------------------------------------------------------

  void read_request() {
    if (closed_) return;
    if (server_.stopping) return close();
    idle_ = true;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_.options.header_limit));
    parser_->body_limit(server_.options.max_body);
    lowest().expires_after(server_.options.read_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (closed_) return;
    if (ec) return read_failed(ec, "header");
    idle_ = false;
    auto& req = parser_->get();
    version_ = req.version();
    if (version_ != 10 && version_ != 11) {
      version_ = 11;
      return fail(505, "HTTP version not supported: use HTTP/1.1");
    }
    if (parser_->is_done()) return dispatch();
    if (version_ == 11 && contains_token(to_std(req[bhttp::field::expect]), "100-continue")) {
      // curl waits for this before sending a large body.
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      writing_ = true;
      lowest().expires_after(server_.options.write_timeout);
      asio::async_write(stream_, asio::buffer(kContinue),
                        [self = this->shared_from_this()](beast::error_code ec, size_t) {
                          self->writing_ = false;
                          if (ec || self->closed_) return self->close();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    uint64_t length = parser_->content_length().value_or(server_.options.max_body);
    lowest().expires_after(server_.options.read_timeout + std::chrono::seconds(length >> 20));
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_body(ec); });
  }

  void on_body(beast::error_code ec) {
    if (closed_) return;
    if (ec) return read_failed(ec, "body");
    dispatch();
  }

  void read_failed(beast::error_code ec, const char* part) {
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted || ec == bhttp::error::partial_message)
      return close();
    if (ec == beast::error::timeout) {
      // tcp_stream has closed the socket: nothing more can be said (as nginx does).
      spdlog::debug("http: {}: the request's {} did not arrive within http.read_timeout", peer_, part);
      return close();
    }
    if (ec == bhttp::error::body_limit)
      return fail(413, fmt::format("request body larger than {} bytes (http.max_body)", server_.options.max_body));
    if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow)
      return fail(431, fmt::format("request header larger than {} bytes", server_.options.header_limit));
    fail(400, "malformed HTTP request: " + ec.message());
  }

  // --- handling it ------------------------------------------------------------------------

  void dispatch() {
    bhttp::request<bhttp::string_body> msg = parser_->release();
    parser_.reset();
    lowest().expires_never();
    began_ = Clock::now();
    Request r;
    r.method = to_std(msg.method_string());
    r.target = to_std(msg.target());
    r.version = msg.version();
    r.peer = peer_;
    r.tls = kTls;
    keep_alive_ = msg.keep_alive() && !server_.stopping;
    method_ = r.method;
    target_ = r.target.substr(0, 200);
    Target t;
    if (!split_target(r.target, &t)) return send(error_response(400, "malformed request target"));
    r.path = std::move(t.path);
    if (std::string error; !r.query.parse(t.query, &error)) return send(error_response(400, error));
    for (const auto& f : msg) r.headers.emplace_back(to_std(f.name_string()), to_std(f.value()));
    r.body = std::move(msg.body());
    if (r.path == "/mqtt" && server_.upgrade && contains_token(to_std(msg[bhttp::field::connection]), "upgrade") &&
        iequals(to_std(msg[bhttp::field::upgrade]), "websocket")) {
      if constexpr (kTls)
        return relay(std::move(r));
      else
        return hand_over(std::move(r));
    }

    std::weak_ptr<Self> weak = this->shared_from_this();
    answer_ = std::make_shared<Answer>([weak, poster = server_.poster] {
      poster->post([weak] {
        if (auto c = weak.lock()) c->pump();
      });
    });
    std::optional<Response> res = server_.router.handle(r, answer_);
    if (res) {
      answer_.reset();
      return send(std::move(*res));
    }
    pending_self_ = this->shared_from_this();
    watch_peer();
  }

  void hand_over(Request r) {
    Upgrade up;
    auto data = buffer_.data();
    up.buffered.assign(static_cast<const char*>(data.data()), data.size());
    lowest().expires_never();
    beast::error_code ec;
    up.fd = lowest().socket().release(ec);
    if (ec) return close();
    closed_ = true;
    up.request = std::move(r);
    server_.upgrade(std::move(up));
  }

  // wss:// on the HTTPS port. The TLS session cannot leave this thread, so the MQTT loops get
  // one end of a socket pair, as they would get the TCP socket of ws://, and this connection
  // relays between the pair's other end and the TLS stream, both ways, until either closes.
  // The MQTT side gets the client's address with the socket (Upgrade's request.peer), for its
  // log, its login throttle and mqtt_clients.
  void relay(Request r) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
      return send(error_response(503, std::string("cannot relay the WebSocket: ") + std::strerror(errno)));
    relay_ = std::make_unique<Relay>(server_.ioc, pair[0]);
    Upgrade up;
    auto data = buffer_.data();
    up.buffered.assign(static_cast<const char*>(data.data()), data.size());
    up.fd = pair[1];
    up.request = std::move(r);
    lowest().expires_never();
    idle_ = false;
    pending_self_ = this->shared_from_this();  // the relay's reads keep it too; this until close()
    server_.upgrade(std::move(up));
    relay_pump(stream_, relay_->socket, relay_->in);   // client -> MQTT
    relay_pump(relay_->socket, stream_, relay_->out);  // MQTT -> client
  }

  // Copies what `from` reads to `to`, through `buf`, until either side closes (then both do).
  template <class From, class To>
  void relay_pump(From& from, To& to, char* buf) {
    from.async_read_some(asio::buffer(buf, Relay::kBuffer), [self = this->shared_from_this(), &from, &to, buf](
                                                                  beast::error_code ec, size_t n) {
      if (ec || self->closed_) return self->close();
      asio::async_write(to, asio::buffer(buf, n), [self, &from, &to, buf](beast::error_code ec, size_t) {
        if (ec || self->closed_) return self->close();
        self->relay_pump(from, to, buf);
      });
    });
  }

  // While the answer is being made, a client that goes away cancels it. Readable with nothing
  // to read is the peer's close; readable with data is a pipelined request (left for later).
  void watch_peer() {
    uint64_t n = ++watch_generation_;
    lowest().socket().async_wait(tcp::socket::wait_read,
                                 [self = this->shared_from_this(), n](beast::error_code ec) {
                                   if (ec || self->closed_ || !self->answer_ || n != self->watch_generation_) return;
                                   char c;
                                   ssize_t got = ::recv(self->lowest().socket().native_handle(), &c, 1,
                                                        MSG_PEEK | MSG_DONTWAIT);
                                   if (got > 0) return;
                                   if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                                     return self->watch_peer();
                                   spdlog::debug("http: {} went away during {} {}: cancelled", self->peer_,
                                                 self->method_, self->target_);
                                   self->close();
                                 });
  }

  // --- writing the answer -----------------------------------------------------------------

  template <class Message>
  void set_fields(Message& m, const Answer::Head& head) {
    m.set(bhttp::field::server, kServerName);
    if (!head.content_type.empty()) m.set(bhttp::field::content_type, head.content_type);
    if (head.gzip) m.set(bhttp::field::content_encoding, "gzip");
    for (const auto& [k, v] : head.headers) m.set(k, field_value(v));
    m.keep_alive(keep_alive_);
  }

  void send(Response res) {
    Answer::Head head{res.status, std::move(res.content_type), false, std::move(res.headers)};
    send_whole(head, std::move(res.body));
  }

  void send_whole(const Answer::Head& head, std::string body) {
    whole_ = std::make_unique<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(head.status), version_);
    set_fields(*whole_, head);
    whole_->body() = std::move(body);
    whole_->prepare_payload();
    if (head.status == 204) whole_->erase(bhttp::field::content_length);  // RFC 9110 8.6
    log(head.status);
    writing_ = true;
    lowest().expires_after(server_.options.write_timeout);
    bhttp::async_write(stream_, *whole_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      self->writing_ = false;
      self->whole_.reset();
      if (ec || self->closed_) return self->close();
      self->after_answer();
    });
  }

  void fail(int status, const std::string& reason) {
    keep_alive_ = false;
    idle_ = false;
    if (method_.empty()) method_ = "-";
    send(error_response(status, reason));
  }

  // Writes what the answer has, one piece at a time.
  void pump() {
    if (closed_ || writing_ || !answer_) return;
    Answer::Head head;
    switch (answer_->next(&head, &out_)) {
      case Answer::Step::wait: return;
      case Answer::Step::whole: return send_whole(head, std::move(out_));
      case Answer::Step::stream: return start_stream(head);
      case Answer::Step::bytes: return write_piece();
      case Answer::Step::end:
        if (answer_->closes_connection()) keep_alive_ = false;
        return write_end();
      case Answer::Step::abort:
        spdlog::debug("http: {} {}: the answer failed after it started; connection closed", method_, target_);
        return close();
    }
  }

  void start_stream(const Answer::Head& head) {
    head_ = std::make_unique<bhttp::response<bhttp::empty_body>>(bhttp::status::ok, version_);
    chunked_ = version_ == 11;
    if (!chunked_) keep_alive_ = false;  // HTTP/1.0: the end of the answer is the close
    set_fields(*head_, head);
    if (chunked_) head_->chunked(true);
    head_serializer_ = std::make_unique<bhttp::response_serializer<bhttp::empty_body>>(*head_);
    log(200);
    writing_ = true;
    lowest().expires_after(server_.options.write_timeout);
    bhttp::async_write_header(stream_, *head_serializer_,
                              [self = this->shared_from_this()](beast::error_code ec, size_t) {
                                self->piece_written(ec);
                              });
  }

  void write_piece() {
    writing_ = true;
    lowest().expires_after(server_.options.write_timeout);
    auto done = [self = this->shared_from_this()](beast::error_code ec, size_t) { self->piece_written(ec); };
    if (chunked_) asio::async_write(stream_, bhttp::make_chunk(asio::buffer(out_)), std::move(done));
    else asio::async_write(stream_, asio::buffer(out_), std::move(done));
  }

  void piece_written(beast::error_code ec) {
    writing_ = false;
    if (ec || closed_) return close();
    pump();
  }

  void write_end() {
    if (!chunked_) return after_answer();
    writing_ = true;
    lowest().expires_after(server_.options.write_timeout);
    asio::async_write(stream_, bhttp::make_chunk_last(), [self = this->shared_from_this()](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (ec || self->closed_) return self->close();
      self->after_answer();
    });
  }

  void after_answer() {
    answer_.reset();
    head_serializer_.reset();
    head_.reset();
    out_.clear();
    out_.shrink_to_fit();
    ++watch_generation_;
    method_.clear();
    auto self = std::move(pending_self_);  // lives to the end of this call
    if (!keep_alive_ || server_.stopping) return linger_close();
    read_request();
  }

  // --- closing ------------------------------------------------------------------------------

  // After an answer that ends the connection: stop sending, then read and drop what the client
  // may still be sending (the rest of a refused body) for a while, so that the close does not
  // reset the connection before the client has read the answer.
  void linger_close() {
    if (closed_) return;
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    lowest().expires_after(kLingerTime);
    drain();
  }

  void drain() {
    stream_.async_read_some(asio::buffer(scratch_), [self = this->shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->closed_ || self->drained_ > kLingerBytes) return self->close();
      self->drain();
    });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    if (answer_) answer_->cancel();
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close();
    if (relay_) relay_->socket.close(ec);
    pending_self_.reset();  // may be the last reference: nothing after this line
  }

  void log(int status) {
    if (!spdlog::should_log(spdlog::level::debug)) return;
    spdlog::debug("http: {} {} {} -> {} ({})", peer_, method_.empty() ? "-" : method_, target_, status,
                  query::go_duration(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - began_)));
  }

  ServerCore& server_;
  std::shared_ptr<void> keep_;  // before stream_, which it outlives
  Stream stream_;
  beast::flat_buffer buffer_;
  const uint64_t id_;
  const std::string peer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<Answer> answer_;
  std::shared_ptr<Self> pending_self_;  // set while an answer is outstanding
  std::unique_ptr<bhttp::response<bhttp::string_body>> whole_;
  std::unique_ptr<bhttp::response<bhttp::empty_body>> head_;
  std::unique_ptr<bhttp::response_serializer<bhttp::empty_body>> head_serializer_;
  std::string out_;  // the piece being written
  char scratch_[16384];
  uint64_t drained_ = 0;
  uint64_t watch_generation_ = 0;
  unsigned version_ = 11;
  bool idle_ = true, keep_alive_ = true, closed_ = false, writing_ = false, chunked_ = true;
  Clock::time_point began_ = Clock::now();
  std::string method_, target_;  // of the request under way (the log)
  // relay(): the socket pair's end and a buffer each way; null unless relaying.
  struct Relay {
    Relay(asio::io_context& ioc, int fd) : socket(ioc, asio::local::stream_protocol(), fd) {}
    static constexpr size_t kBuffer = 16384;
    asio::local::stream_protocol::socket socket;
    char in[kBuffer], out[kBuffer];
  };
  std::unique_ptr<Relay> relay_;
};

void ServerCore::accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (stopping || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of file descriptors and the like: back off briefly instead of spinning.
      spdlog::warn("http: accept failed: {}", ec.message());
      accept_backoff.expires_after(std::chrono::milliseconds(100));
      accept_backoff.async_wait([this](beast::error_code e) {
        if (!e && !stopping) accept();
      });
      return;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto ep = socket.remote_endpoint(ignored);
    std::string peer = ep.address().is_v6() ? fmt::format("[{}]:{}", ep.address().to_string(), ep.port())
                                            : fmt::format("{}:{}", ep.address().to_string(), ep.port());
    uint64_t id = ++next_id;
    auto adopt = [&](auto c) {
      connections.emplace(id, c);
      c->start();
    };
    if (tls)
      adopt(std::make_shared<Connection<TlsStream>>(*this, TlsStream(beast::tcp_stream(std::move(socket)), *tls), id,
                                                    std::move(peer), tls));
    else
      adopt(std::make_shared<Connection<beast::tcp_stream>>(*this, beast::tcp_stream(std::move(socket)), id,
                                                            std::move(peer)));
    accept();
  });
}

void ServerCore::begin_stop() {
  stopping = true;
  router.stopping();  // watch streams end now, like any other answer
  beast::error_code ec;
  acceptor.close(ec);
  accept_backoff.cancel();
  for (auto& c : live()) c->server_stopping();
  if (connections.empty()) return;
  stop_timer.expires_after(kStopGrace);
  stop_timer.async_wait([this](beast::error_code e) {
    if (e) return;
    for (auto& c : live()) c->force_close();
  });
}

}  // namespace

struct HttpServer::Impl {
  ServerCore core;
  std::thread thread;
  std::mutex stop_mu;
  bool stopped = false;

  Impl(HttpServerOptions o, Execute execute, ingest::Ingest* ingest, QueryPool& queries, store::tables::Tables* tables)
      : core(std::move(o), std::move(execute), ingest, queries, tables) {}
};

HttpServer::HttpServer(HttpServerOptions options, Execute execute, ingest::Ingest* ingest, QueryPool& queries,
                       store::tables::Tables* tables)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(execute), ingest, queries, tables)) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::set_authorizer(Authorizer a) { impl_->core.router.set_authorizer(std::move(a)); }
void HttpServer::set_operations(std::function<std::optional<Response>(const Request&)> h) {
  impl_->core.router.set_operations(std::move(h));
}
void HttpServer::set_mqtt_upgrade(UpgradeHandler h) { impl_->core.upgrade = std::move(h); }

void HttpServer::set_tls(std::shared_ptr<const net::TlsContext> tls) {
  ServerCore& core = impl_->core;
  asio::post(core.ioc, [&core, tls = std::move(tls)] {
    if (core.tls) core.set_tls(tls);
  });
}

void HttpServer::start() {
  ServerCore& core = impl_->core;
  const ListenAddress& l = core.options.listen;
  beast::error_code ec;
  auto addr = asio::ip::make_address(l.host, ec);
  if (ec) throw std::runtime_error("invalid HTTP listen address '" + l.host + "'");
  tcp::endpoint ep(addr, l.port);
  core.acceptor.open(ep.protocol(), ec);
  if (!ec) core.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) core.acceptor.bind(ep, ec);
  if (!ec) core.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    core.acceptor.close(ignored);
    throw std::runtime_error(fmt::format("cannot listen on {}:{}: {}", addr.is_v6() ? "[" + l.host + "]" : l.host,
                                         l.port, ec.message()));
  }
  core.bound = {l.host, core.acceptor.local_endpoint().port()};
  core.set_tls(core.options.tls);
  spdlog::info("{} listening on {}:{}{}", core.tls ? "HTTPS" : "HTTP", addr.is_v6() ? "[" + l.host + "]" : l.host,
               core.bound.port, core.tls ? " (" + core.options.tls->describe() + ")" : "");
  core.accept();
  sigset_t quit, previous;
  sigemptyset(&quit);
  sigaddset(&quit, SIGINT);
  sigaddset(&quit, SIGTERM);
  sigaddset(&quit, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &quit, &previous);
  impl_->thread = std::thread([&core] {
    store::name_this_thread("mqbase-http");
    core.ioc.run();
  });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

ListenAddress HttpServer::bound() const { return impl_->core.bound; }

void HttpServer::stop() {
  std::lock_guard lock(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  ServerCore& core = impl_->core;
  if (impl_->thread.joinable()) {
    asio::post(core.ioc, [&core] { core.begin_stop(); });
    impl_->thread.join();
  }
  core.poster->close();
  core.writes.stop();
}

}  // namespace mqbase::http
