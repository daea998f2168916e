#include "net/connection.h"

#include <boost/asio/post.hpp>
#include <cstring>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "mqtt/decoder.h"
#include "net/event_loop.h"

namespace mqbase::net {

namespace asio = boost::asio;
using Clock = broker::Client::Clock;

namespace {
// Bytes read per readiness event, into a buffer shared by every connection of the thread.
constexpr size_t kReadChunk = 64 * 1024;
thread_local std::unique_ptr<char[]> t_read_buffer;
}  // namespace

Connection::Connection(EventLoop& loop, asio::ip::tcp::socket socket)
    : loop_(loop), socket_(std::move(socket)) {}

Connection::~Connection() = default;

void Connection::start() {
  boost::system::error_code ec;
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  socket_.non_blocking(true, ec);
  client_ = std::make_unique<broker::Client>(loop_.broker(), shared_from_this(), Clock::now());
  read();
}

// Reactor style: wait until the socket is readable, then read into the thread's buffer. An
// idle connection holds no read buffer at all; only the tail of a packet split across reads
// is kept per connection (in partial_).
void Connection::read() {
  socket_.async_wait(asio::ip::tcp::socket::wait_read, [self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec) {
      self->finish();
      return;
    }
    self->on_readable();
  });
}

void Connection::on_readable() {
  if (!t_read_buffer) t_read_buffer = std::make_unique<char[]>(kReadChunk);
  boost::system::error_code ec;
  size_t n = socket_.read_some(asio::buffer(t_read_buffer.get(), kReadChunk), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    read();
    return;
  }
  if (ec || n == 0) {
    finish();
    return;
  }
  broker::Stats::add(loop_.broker().stats().bytes_received, n);
  if (partial_.empty()) {
    size_t used = process({t_read_buffer.get(), n});
    if (used < n) partial_.assign(t_read_buffer.get() + used, n - used);
  } else {
    partial_.append(t_read_buffer.get(), n);
    size_t used = process(partial_);
    partial_.erase(0, used);
  }
  if (partial_.empty()) {
    std::string().swap(partial_);  // give the memory back
  } else {
    // Room for the whole packet once its size is known (bounded by max_packet_size), so a
    // large packet arriving in many reads is not copied again at every read.
    mqtt::FixedHeader h;
    if (mqtt::parse_fixed_header(partial_, loop_.broker().limits().max_packet_size, h) ==
            mqtt::FrameStatus::need_more &&
        h.header_length > 0)
      partial_.reserve(h.total());
  }
  if (closed_) {
    finish();
    return;
  }
  read();
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
        }
        break;
      }
    }
    if (close_requested_.load(std::memory_order_relaxed)) stop = true;
  }
  // After a close request nothing more is processed ([MQTT-3.1.4-5]): drop the rest.
  return close_requested_.load(std::memory_order_relaxed) ? data.size() : off;
}

bool Connection::send(std::string_view bytes, bool droppable) {
  std::lock_guard lock(out_mutex_);
  if (close_requested_ || closed_) return false;
  if (droppable && pending_ > loop_.broker().limits().max_write_buffer) return false;
  out_.append(bytes);
  pending_ += bytes.size();
  if (!write_active_) {
    write_active_ = true;
    asio::post(loop_.context(), [self = shared_from_this()] { self->flush(); });
  }
  return true;
}

void Connection::close() {
  std::lock_guard lock(out_mutex_);
  if (close_requested_) return;
  close_requested_ = true;
  if (!write_active_) {
    write_active_ = true;
    asio::post(loop_.context(), [self = shared_from_this()] { self->flush(); });
  }
}

void Connection::disconnect(mqtt::ReasonCode reason) {
  // The Client lives on this connection's loop: hand it the reason there.
  asio::post(loop_.context(), [self = shared_from_this(), reason] {
    if (self->client_ && !self->finished_) self->client_->on_server_disconnect(reason);
  });
}

void Connection::flush() {
  {
    std::lock_guard lock(out_mutex_);
    if (closed_) {
      write_active_ = false;
      return;
    }
    if (out_.empty()) {
      write_active_ = false;
      if (!close_requested_) return;
    } else {
      writing_.swap(out_);
    }
  }
  if (writing_.empty()) {
    close_socket();
    return;
  }
  asio::async_write(socket_, asio::buffer(writing_),
                    [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
                      broker::Stats::add(self->loop_.broker().stats().bytes_sent, n);
                      {
                        std::lock_guard lock(self->out_mutex_);
                        self->pending_ -= self->writing_.size();
                      }
                      self->writing_.clear();
                      if (self->writing_.capacity() > 256 * 1024) std::string().swap(self->writing_);
                      if (ec) {
                        self->close_socket();
                        return;
                      }
                      self->flush();
                    });
}

void Connection::close_socket() {
  {
    std::lock_guard lock(out_mutex_);
    if (closed_) return;
    closed_ = true;
    close_requested_ = true;
    out_.clear();
  }
  boost::system::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);  // the pending read completes with an error and calls finish()
}

void Connection::finish() {
  if (finished_) return;
  close_socket();
  finished_ = true;
  client_->on_closed();
  client_.reset();    // the Client holds this Connection as its link: break the cycle
  loop_.remove(this);  // may destroy *this once the last handler lets go
}

void Connection::check_deadline(Clock::time_point now) {
  if (client_ && client_->deadline_passed(now)) client_->on_deadline();
}

void Connection::shutdown_by_server() {
  if (client_) client_->on_server_shutdown();
}

}  // namespace mqbase::net
