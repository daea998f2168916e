// Answer: the answer to one HTTP request, handed from the thread that makes it (a query pool
// thread running run_query(), the ingest reply thread calling a write's completion) to the
// connection that sends it on the HTTP I/O thread. The producer calls the AnswerOutput side;
// each call wakes the connection (through `wake`), which takes what is there with next().
//
// Back-pressure: stream_bytes() blocks while more than kHighWater bytes wait to be written, so
// a query streaming to a slow client holds at most that much (plus the writer's own 64 KiB
// buffer); the query's time limit still runs. cancel() (the client went away, the server
// stops) releases a blocked producer, makes stream_bytes() return false and sets the cancel
// flag the query watches (QueryOptions::cancel).
//
// A producer that must never wait (a watch stream, fed by the threads that write the table)
// uses stream_offer() instead: it appends unless too much waits already, and then says so.
//
// Thread-safety: the AnswerOutput methods from one producer thread at a time, next() and
// cancel() from the I/O thread; any thread may read flag().
#pragma once
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "http/query_runner.h"

namespace mqbase::http {

class Answer final : public AnswerOutput {
 public:
  static constexpr size_t kHighWater = 1 << 20;

  // `wake` is called (with a lock held: it must only post elsewhere) when there is something
  // new for next(); at most once until next() is called again.
  explicit Answer(std::function<void()> wake);

  // AnswerOutput (the producer).
  void whole(int status, std::string_view content_type, bool gzip, std::string body) override;
  void stream_begin(std::string_view content_type, bool gzip) override;
  bool stream_bytes(std::string_view bytes) override;
  void stream_end() override;
  void stream_abort(const std::string& reason) override;
  // whole() with extra header fields (an Influx error's X-Influxdb-Error, Retry-After).
  void whole_with(int status, std::string_view content_type, std::string body,
                  std::vector<std::pair<std::string, std::string>> headers);

  // stream_bytes() that never waits: appends `bytes` and returns true unless `limit` bytes or
  // more wait to be written already, or the answer was cancelled (then false, nothing appended).
  bool stream_offer(std::string_view bytes, size_t limit);
  // Calls `fn` once when the answer is cancelled (on the cancelling thread, no lock held), or
  // at once if it was already. Replaces an earlier one.
  void on_cancel(std::function<void()> fn);

  // stream_end(), and the connection closes after it instead of reading the next request
  // (a watch stream cut because its client is too slow).
  void stream_end(bool close_connection);
  bool closes_connection();

  // stream_begin() with extra header fields (a watch stream's Cache-Control).
  void stream_begin_with(std::string_view content_type, std::vector<std::pair<std::string, std::string>> headers,
                         bool gzip = false);

  // The consumer (the connection).
  struct Head {
    int status = 0;
    std::string content_type;  // "": none
    bool gzip = false;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  enum class Step {
    wait,    // nothing new: the next wake() says when
    whole,   // *head and *bytes (the body) are the whole answer
    stream,  // *head: a streamed answer starts
    bytes,   // *bytes: the next piece of the stream
    end,     // the stream is complete
    abort,   // the stream failed and cannot say so: close without ending it
  };
  Step next(Head* head, std::string* bytes);
  void cancel();
  bool cancelled() const { return flag_->load(); }
  const std::shared_ptr<std::atomic<bool>>& flag() const { return flag_; }

 private:
  void notify();  // with mu_ held

  std::function<void()> wake_;
  std::function<void()> on_cancel_;
  std::shared_ptr<std::atomic<bool>> flag_ = std::make_shared<std::atomic<bool>>(false);
  std::mutex mu_;
  std::condition_variable space_;
  enum class Kind { none, whole, stream } kind_ = Kind::none;
  Head head_;
  std::string body_;     // whole
  std::string pending_;  // stream: written by the producer, not yet taken
  bool head_taken_ = false, ended_ = false, end_taken_ = false, aborted_ = false;
  bool cancelled_ = false, wake_posted_ = false, close_after_ = false;
};

}  // namespace mqbase::http
