#include "store/store.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "store/checkpointer.h"
#include "store/dir_lock.h"
#include "store/log_format.h"
#include "store/recovery.h"
#include "store/wal_files.h"
#include "store/wal_writer.h"

namespace mqbase::store {

namespace fs = std::filesystem;

Store::Store(const StoreOptions& options) : options_(options), io_(options.io ? *options.io : FileOps::posix()) {}

Store::~Store() { close(); }

std::unique_ptr<Store> Store::open(const StoreOptions& options, RecoveryReport* report,
                                   std::function<void(uint8_t type, Lsn lsn, std::string_view payload)> on_record) {
  if (options.dir.empty()) throw StoreError("no data directory given");
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) throw StoreError("cannot create data directory " + options.dir + ": " + ec.message());
  std::unique_ptr<Store> store(new Store(options));
  store->lock_ = std::make_unique<DirLock>(options.dir);

  const bool writes = options.durability != Durability::none;
  const std::string wal_dir = wal_dir_of(options.dir);
  RecoveryReport local_report;
  RecoveryReport& rep = report ? *report : local_report;
  rep = RecoveryReport{};
  RecoveredState state = Recovery(store->options_, store->io_, writes, rep, std::move(on_record)).run();
  store->recovered_ = std::make_unique<ValueIndex>(std::move(state.kv));
  store->wal_bytes_.store(state.wal_bytes);
  if (!writes) {
    store->none_lsn_.store(state.last_lsn);
    return store;
  }

  if (!fs::exists(wal_dir, ec)) {
    fs::create_directory(wal_dir, ec);
    if (ec) throw StoreError("cannot create " + wal_dir + ": " + ec.message());
    if (!fsync_dir(store->io_, options.dir))
      throw StoreError("cannot fsync " + options.dir + ": " + errno_text(errno));
  }
  Checkpointer::Options co;
  co.wal_dir = wal_dir;
  co.checkpoint_bytes = options.checkpoint_bytes;
  co.skip_corrupt = options.skip_corrupt;
  co.log = options.log;
  co.io = &store->io_;
  co.before_checkpoint = options.before_checkpoint;
  co.duration = &store->checkpoint_latency_;
  Store* self = store.get();
  co.recycle = [self](const std::string& path, uint64_t bytes) { return self->writer_ && self->writer_->recycle(path, bytes); };
  store->checkpointer_ = std::make_unique<Checkpointer>(co, store->wal_bytes_, store->checkpoints_);

  WalWriter::Options wo;
  wo.wal_dir = wal_dir;
  wo.durability = options.durability;
  wo.batch_interval = options.batch_interval;
  wo.segment_bytes = options.segment_bytes;
  wo.preallocate = options.preallocate;
  wo.recycle = options.recycle_segments;
  // As many as a checkpoint frees in the steady state: every segment is then a recycled one.
  wo.recycle_pool = static_cast<size_t>(std::clamp<uint64_t>(options.checkpoint_bytes / std::max<uint64_t>(options.segment_bytes, 1), 2, 64));
  wo.disk_budget = options.disk_budget;
  wo.log = options.log;
  wo.io = &store->io_;
  wo.write_latency = &store->write_latency_;
  wo.sync_latency = &store->sync_latency_;
  Checkpointer* checkpointer = store->checkpointer_.get();
  store->writer_ = std::make_unique<WalWriter>(
      wo, store->wal_bytes_,
      [checkpointer](uint64_t number, uint64_t bytes, bool force) { checkpointer->segment_closed(number, bytes, force); });
  // A new segment per open: the last one (perhaps just cut at a torn tail) is never appended to.
  store->writer_->start(state.last_segment_number + 1, state.last_lsn + 1);
  store->checkpointer_->start(state.checkpoint_number, std::move(state.later_segments));
  if (!rep.skipped.empty()) {
    // The skip must stick: until a checkpoint covers them, the damaged segments would stop
    // the next start (a restart by systemd, a kill -9) all over again.
    bool ok = store->checkpoint();
    if (options.log)
      options.log(ok ? "recovery: wrote a checkpoint of what was recovered and deleted the damaged segments: the "
                       "next start needs no --recover-skip-corrupt"
                     : "recovery: the checkpoint after skipping corrupt records failed: the next start will "
                       "need --recover-skip-corrupt again");
  }
  return store;
}

void Store::for_each(std::string_view prefix,
                     const std::function<void(std::string_view key, std::string_view value)>& fn) const {
  if (recovered_) recovered_->for_each(prefix, fn);
}

void Store::for_each_key(std::string_view prefix,
                         const std::function<void(std::string_view key, ValueLocation where)>& fn) const {
  if (recovered_) recovered_->for_each_key(prefix, fn);
}

std::string_view Store::recovered_value(const ValueLocation& where) const {
  if (!recovered_) throw StoreError("no recovered values: release_recovered() was called");
  return recovered_->value(where);
}

void Store::release_recovered() { recovered_.reset(); }

Lsn Store::append(uint8_t type, std::string_view payload, bool deletes_only, bool has_deletes, WriteStatus* status,
                  bool waited) {
  if (!writer_) {
    WriteStatus st = WriteStatus::ok;
    Lsn lsn = 0;
    if (closed_.load(std::memory_order_relaxed)) st = WriteStatus::closed;
    else if (payload.size() > kMaxRecordPayload) st = WriteStatus::too_large;
    else lsn = none_lsn_.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (status) *status = st;
    return lsn;
  }
  return writer_->append(type, payload, deletes_only, has_deletes, status, waited);
}

bool Store::accepting() const {
  if (closed_.load(std::memory_order_relaxed)) return false;
  if (!writer_) return true;
  return !writer_->failing() &&
         (options_.disk_budget == 0 || wal_bytes_.load(std::memory_order_relaxed) <= options_.disk_budget);
}

Lsn Store::write(const WriteBatch& batch, WriteStatus* status) {
  return append(kTypeKvBatch, batch.rep(), batch.deletes_only(), batch.has_deletes(), status);
}

Lsn Store::write_record(uint8_t type, std::string_view payload, WriteStatus* status, bool waited) {
  if (!is_user_record_type(type))
    throw std::invalid_argument("record type " + std::to_string(type) + " is not a caller's type (2..126)");
  return append(type, payload, false, false, status, waited);
}

bool Store::cancel(Lsn lsn) { return writer_ && writer_->cancel(lsn); }

Lsn Store::durable_lsn() const {
  return writer_ ? writer_->durable_lsn() : none_lsn_.load(std::memory_order_acquire);
}

void Store::set_on_durable(std::function<void(Lsn)> fn) {
  if (writer_) writer_->set_on_durable(std::move(fn));
}

bool Store::checkpoint() {
  if (!writer_) return !closed_.load();
  std::lock_guard lock(checkpoint_mu_);
  if (closed_.load()) return false;
  uint64_t closed_segment = writer_->rotate();
  if (closed_segment == 0) {
    if (options_.log) options_.log("checkpoint: cannot close the active segment (the log is failing or closing)");
    return false;
  }
  return checkpointer_->checkpoint_through(closed_segment);
}

void Store::close() {
  std::lock_guard lock(close_mu_);
  if (closed_.exchange(true)) return;
  if (writer_) writer_->stop();
  if (checkpointer_) checkpointer_->stop();
  if (lock_) lock_->release();
}

Store::Stats Store::stats() const {
  Stats s;
  if (writer_) {
    s.records = writer_->records_written();
    s.bytes_written = writer_->bytes_written();
    s.syncs = writer_->syncs();
    s.preallocated_segments = writer_->preallocated_segments();
    s.recycled_segments = writer_->recycled_segments();
    s.records_cancelled = writer_->records_cancelled();
    s.last_sync_seconds = writer_->last_sync_seconds();
  }
  s.checkpoints = checkpoints_.load(std::memory_order_relaxed);
  s.wal_bytes_on_disk = wal_bytes_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace mqbase::store
