#include "http/query_pool.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>

#include "store/thread_setup.h"

namespace mqbase::http {

QueryPool::QueryPool(std::string name, unsigned threads, size_t queue_limit)
    : queue_limit_(queue_limit), thread_count_(std::max(1u, threads)) {
  // The quit signals stay with the thread that reads them (net::Server's signalfd): a pool
  // thread that left them unblocked would take one with its default action.
  sigset_t quit, previous;
  sigemptyset(&quit);
  sigaddset(&quit, SIGINT);
  sigaddset(&quit, SIGTERM);
  sigaddset(&quit, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &quit, &previous);
  for (unsigned i = 0; i < thread_count_; ++i) {
    threads_.emplace_back([this, name] {
      store::name_this_thread(name.c_str());
      store::lower_this_thread_priority(5);
      work();
    });
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

QueryPool::~QueryPool() { stop(); }

bool QueryPool::try_submit(std::function<void()> job, CancelFlag cancel) {
  {
    std::lock_guard lock(mu_);
    // Free threads take queued jobs first: a job may wait only when every thread is busy.
    size_t idle = thread_count_ - std::min<size_t>(thread_count_, busy_);
    if (stop_ || queue_.size() >= queue_limit_ + idle) {
      ++rejected_;
      return false;
    }
    queue_.push_back({std::move(job), std::move(cancel)});
  }
  wake_.notify_one();
  return true;
}

void QueryPool::work() {
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    if (job.cancel) running_.push_back(job.cancel);
    lock.unlock();
    job.run();
    CancelFlag flag = std::move(job.cancel);
    job = {};  // what the job holds goes on this thread, before it counts as done
    lock.lock();
    if (flag) {
      auto it = std::find(running_.begin(), running_.end(), flag);
      if (it != running_.end()) running_.erase(it);
    }
    --busy_;
    ++done_;
  }
}

void QueryPool::stop() {
  std::lock_guard stopping(stop_mu_);
  std::deque<Job> dropped;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    for (auto& f : running_) f->store(true);
    for (auto& j : queue_)
      if (j.cancel) j.cancel->store(true);
    dropped.swap(queue_);
  }
  wake_.notify_all();
  dropped.clear();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

QueryPool::Stats QueryPool::stats() const {
  std::lock_guard lock(mu_);
  return {busy_, queue_.size(), done_, rejected_};
}

}  // namespace mqbase::http
