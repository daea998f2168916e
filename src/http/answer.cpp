#include "http/answer.h"

namespace mqbase::http {

Answer::Answer(std::function<void()> wake) : wake_(std::move(wake)) {}

void Answer::notify() {
  if (wake_posted_ || !wake_) return;
  wake_posted_ = true;
  wake_();
}

void Answer::whole(int status, std::string_view content_type, bool gzip, std::string body) {
  std::lock_guard lock(mu_);
  kind_ = Kind::whole;
  head_.status = status;
  head_.content_type = content_type;
  head_.gzip = gzip;
  body_ = std::move(body);
  notify();
}

void Answer::whole_with(int status, std::string_view content_type, std::string body,
                        std::vector<std::pair<std::string, std::string>> headers) {
  std::lock_guard lock(mu_);
  kind_ = Kind::whole;
  head_.status = status;
  head_.content_type = content_type;
  head_.headers = std::move(headers);
  body_ = std::move(body);
  notify();
}

void Answer::stream_begin(std::string_view content_type, bool gzip) { stream_begin_with(content_type, {}, gzip); }

void Answer::stream_begin_with(std::string_view content_type,
                               std::vector<std::pair<std::string, std::string>> headers, bool gzip) {
  std::lock_guard lock(mu_);
  kind_ = Kind::stream;
  head_.status = 200;
  head_.content_type = content_type;
  head_.gzip = gzip;
  head_.headers = std::move(headers);
  notify();
}

bool Answer::stream_bytes(std::string_view bytes) {
  std::unique_lock lock(mu_);
  space_.wait(lock, [&] { return cancelled_ || pending_.size() < kHighWater; });
  if (cancelled_) return false;
  pending_.append(bytes);
  notify();
  return true;
}

bool Answer::stream_offer(std::string_view bytes, size_t limit) {
  std::lock_guard lock(mu_);
  if (cancelled_ || pending_.size() >= limit) return false;
  pending_.append(bytes);
  notify();
  return true;
}

void Answer::on_cancel(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (!cancelled_) {
      on_cancel_ = std::move(fn);
      return;
    }
  }
  fn();
}

void Answer::stream_end() { stream_end(false); }

void Answer::stream_end(bool close_connection) {
  std::lock_guard lock(mu_);
  ended_ = true;
  close_after_ = close_after_ || close_connection;
  notify();
}

bool Answer::closes_connection() {
  std::lock_guard lock(mu_);
  return close_after_;
}

void Answer::stream_abort(const std::string&) {
  std::lock_guard lock(mu_);
  aborted_ = true;
  notify();
}

Answer::Step Answer::next(Head* head, std::string* bytes) {
  std::lock_guard lock(mu_);
  wake_posted_ = false;
  if (kind_ == Kind::none) return Step::wait;
  if (!head_taken_) {
    head_taken_ = true;
    *head = head_;
    if (kind_ == Kind::whole) {
      *bytes = std::move(body_);
      return Step::whole;
    }
    return Step::stream;
  }
  if (kind_ != Kind::stream) return Step::wait;
  if (!pending_.empty()) {
    bytes->clear();
    bytes->swap(pending_);
    space_.notify_all();
    return Step::bytes;
  }
  if (aborted_) return Step::abort;
  if (ended_ && !end_taken_) {
    end_taken_ = true;
    return Step::end;
  }
  return Step::wait;
}

void Answer::cancel() {
  std::function<void()> hook;
  {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    wake_ = nullptr;  // the connection is going: nothing more to wake
    hook.swap(on_cancel_);
  }
  flag_->store(true);
  space_.notify_all();
  if (hook) hook();
}

}  // namespace mqbase::http
