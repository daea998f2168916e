#include "broker/broker.h"

#include <algorithm>
#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "mqtt/encoder.h"

namespace mqbase::broker {

Broker::Broker(Limits limits, ShareStrategy share_strategy)
    : limits_(limits),
      index_(share_strategy),
      retained_(limits.max_retained_messages, limits.max_retained_bytes),
      started_(std::chrono::steady_clock::now()),
      access_(std::make_shared<auth::AccessControl>(auth::AccessOptions{})) {}

void Broker::add_authenticator(std::shared_ptr<auth::EnhancedAuthenticator> a) {
  std::string method(a->method());
  authenticators_[method] = std::move(a);
}

std::shared_ptr<auth::EnhancedAuthenticator> Broker::authenticator(std::string_view method) const {
  auto it = authenticators_.find(method);
  return it == authenticators_.end() ? nullptr : it->second;
}

void Broker::set_access_control(std::shared_ptr<auth::AccessControl> access) {
  access_ = access ? std::move(access) : std::make_shared<auth::AccessControl>(auth::AccessOptions{});
  acl_ = access_ && access_->has_acl() ? access_.get() : nullptr;
}

std::string Broker::assign_client_id() {
  static const uint64_t boot = std::random_device{}();
  return fmt::format("mqbase-{:08x}-{}", static_cast<uint32_t>(boot), ++next_assigned_id_);
}

void Broker::forget_expiry_locked(const Session* session) {
  if (auto it = expiry_of_.find(session); it != expiry_of_.end()) {
    expiring_.erase(it->second);
    expiry_of_.erase(it);
  }
}

void Broker::persist_session_locked(Session& session) {
  persist_->put_session(session.image());
  session.mark_recorded();
}

void Broker::delete_records_locked(Session& session, const std::vector<std::string>& filters) {
  // The shared-subscription messages redistribute() hands on are not among them: it deletes
  // them itself once they are with their new member, so neither holds them on disk for a moment.
  std::vector<uint64_t> seqs;
  std::vector<uint16_t> incoming;
  session.durable_records(seqs, incoming);
  persist_->delete_session(session.client_id(), filters, seqs, incoming);
  session.mark_recorded(false);  // nothing left to delete
}

bool Broker::discard_locked(const std::shared_ptr<Session>& session) {
  std::vector<std::string> filters;
  for (auto& [filter, opts] : session->take_subscriptions()) filters.push_back(filter);
  if (persist_ && session->recorded()) delete_records_locked(*session, filters);
  if (!filters.empty()) index_.remove_all(session.get(), filters);  // one exclusive lock for all
  forget_expiry_locked(session.get());
  // By iterator: erasing the entry may destroy the Session, whose id the key views.
  if (auto it = sessions_.find(session->client_id()); it != sessions_.end()) sessions_.erase(it);
  Stats::sub(stats_.clients_total);
  return !filters.empty();
}

ConnectOutcome Broker::connect(const ConnectRequest& req, const std::shared_ptr<ClientLink>& link,
                               const ConnackBuilder& connack) {
  ConnectOutcome out;
  std::string client_id = req.client_id;
  if (client_id.empty()) {
    // 3.1 requires an id; 3.1.1 lets the server assign one, but only to a clean session
    // ([MQTT-3.1.3-7/8]); 5.0 always may ([MQTT-3.1.3-6]).
    if (req.version == mqtt::Version::v31 || (req.version == mqtt::Version::v311 && !req.clean_start)) {
      out.reason = mqtt::ReasonCode::client_identifier_not_valid;
      return out;
    }
  } else if (req.version == mqtt::Version::v31 && client_id.size() > 23) {
    out.reason = mqtt::ReasonCode::client_identifier_not_valid;  // MQTT 3.1: 1 to 23 characters
    return out;
  }

  std::shared_ptr<Session> displaced;  // a session replaced by a clean start, for redistribution
  std::shared_ptr<ClientLink> taken_over;
  {
    std::lock_guard lock(sessions_mutex_);
    if (client_id.empty()) {
      do {
        client_id = assign_client_id();
      } while (sessions_.count(client_id));
      out.assigned_client_id = client_id;
    }
    auto it = sessions_.find(client_id);
    if (it == sessions_.end() && limits_.max_sessions != 0 && sessions_.size() >= limits_.max_sessions) {
      out.reason = mqtt::ReasonCode::quota_exceeded;  // v5: 0x97; 3.x: 3 Server unavailable
      return out;
    }
    // A connection whose session or will must be recorded is refused while the store takes no
    // records (full or failing disk, over its budget), before anything changes: a CONNACK that
    // promised a session the next restart would not have, or a will it would not send, is
    // worse than "try again later". Clean sessions without a will need no record.
    if (persist_ && (req.session_expiry != 0 || req.will.msg) && !persist_->accepting()) {
      out.reason = mqtt::ReasonCode::quota_exceeded;  // v5: 0x97; 3.x: 3 Server unavailable
      out.store_refused = true;
      return out;
    }
    pending_wills_.erase(client_id);  // reconnected within the Will Delay Interval
    std::shared_ptr<Session> session;
    bool session_present = false;
    bool deleted_records = false;  // a stored session discarded: its delete is written
    if (it != sessions_.end()) {
      session = it->second;
      forget_expiry_locked(session.get());
      taken_over = session->release_link();
      if (taken_over) taken_over->disconnect(mqtt::ReasonCode::session_taken_over);
      if (req.clean_start || session->clean()) {
        deleted_records = persist_ && session->recorded();
        discard_locked(session);
        displaced = std::move(session);
      } else {
        session_present = true;
      }
    }
    if (!session) {
      session = std::make_shared<Session>(std::move(client_id), req.session_expiry, limits_, stats_);
      if (persist_) session->set_persistence(persist_, ++last_incarnation_);
      sessions_.emplace(session->client_id(), session);  // the key views the session's own id
      Stats::add(stats_.clients_total);
    }
    session->set_will(req.will);
    session->set_username(req.username, req.grants);
    // A session that outlives its connection, or carries a will, is written before the
    // CONNACK goes out (in sync mode the CONNACK waits for the record: Session::start()).
    // So is the delete of a stored session that a clean start discarded: a CONNACK saying
    // "no session" must not be undone by a crash that brings the old session back.
    const bool record = persist_ && (req.session_expiry != 0 || req.will.msg || session->recorded());
    out.deferred = (record || deleted_records) && persist_->acks_wait();
    // What the resumed session queued was checked when it was queued; the ACL may have changed
    // since (a reload while the client was away), and this login may be another user's.
    if (session_present && acl_) session->recheck_queue(read_check(session->client_id(), {req.username, req.grants}));
    out.generation = session->attach(link, req.peer, req.session_expiry,
                                     connack(session_present, out.assigned_client_id), out.deferred);
    if (record) persist_session_locked(*session);
    out.session = std::move(session);
  }
  if (taken_over) index_.synchronize();  // publishes that may still send to the old link are done
  if (displaced) redistribute(displaced, true);
  return out;
}

ConnectOutcome Broker::connect(const mqtt::Connect& c, const std::shared_ptr<ClientLink>& link) {
  ConnectRequest req;
  req.version = c.version;
  req.client_id = std::string(c.client_id);
  req.clean_start = c.clean_start;
  req.session_expiry = c.clean_start ? 0 : kSessionNeverExpires;
  req.peer.version = c.version;
  return connect(req, link, [&](bool present, const std::string&) {
    std::string out;
    mqtt::encode(mqtt::Connack{present && c.version != mqtt::Version::v31, 0, {}}, c.version, out);
    return out;
  });
}

// The shared-subscription messages `from` holds and its client has not confirmed go to a
// connected member of the same group. When none is connected, a session that lives on keeps
// them (its client completes them on reconnect, with DUP); a discarded one hands them to any
// member's session, and only when the group has no member left are they dropped, counted.
void Broker::redistribute(const std::shared_ptr<Session>& from, bool discarded) {
  auto groups = from->shared_groups_held();
  if (groups.empty()) return;
  std::vector<std::shared_ptr<const std::string>> movable;
  for (auto& g : groups) {
    MatchedSubscriber other;
    std::shared_ptr<Session> owner;
    if (discarded || index_.pick_other_member(*g, from.get(), other, owner, /*connected_only=*/true))
      movable.push_back(std::move(g));
  }
  if (movable.empty()) return;
  auto taken = from->take_shared_messages([&](const std::string& share) {
    return std::any_of(movable.begin(), movable.end(), [&](const auto& g) { return *g == share; });
  });
  for (auto& u : taken) {
    MatchedSubscriber other;
    std::shared_ptr<Session> owner;
    if (!index_.pick_other_member(*u.delivery.share, from.get(), other, owner)) {
      stats_.drop(DropReason::no_share_member);  // no member's session left to take it
      continue;
    }
    Delivery d = u.delivery;
    d.qos = std::min(other.qos, u.msg->qos);
    d.identifiers = std::move(other.identifiers);
    other.session->deliver(u.msg, d);
  }
  // Only now, with each message held by its new member, does `from` let go of them on disk.
  if (persist_)
    for (auto& u : taken)
      if (u.seq) persist_->delete_message(from->client_id(), u.seq);
}

void Broker::disconnect(const std::shared_ptr<Session>& session, uint64_t generation) {
  std::shared_ptr<ClientLink> link;
  bool discarded = false;
  bool readers_waited_out = false;
  {
    std::lock_guard lock(sessions_mutex_);
    auto now = Clock::now();
    if (!session->detach(generation, now, &link)) return;  // taken over: the new connection owns it
    uint32_t expiry = session->expiry_interval();
    if (expiry == 0) {
      readers_waited_out = discard_locked(session);
      discarded = true;
    } else {
      if (expiry != kSessionNeverExpires)
        expiry_of_[session.get()] = expiring_.emplace(now + std::chrono::seconds(expiry), session);
      // When it was left (its expiry runs on the wall clock across restarts) and its will.
      if (persist_) persist_session_locked(*session);
    }
  }
  // Publishes that read the link without the session's lock (Session::deliver_qos0) run under
  // the index's read lock: once they are over, the link may go. Removing the subscriptions
  // took that lock exclusively after the link was cleared, which waited them out already:
  // one exclusive lock per disconnect, not two.
  if (!readers_waited_out) index_.synchronize();
  link.reset();
  redistribute(session, discarded);
}

std::shared_ptr<Session> Broker::find_session(std::string_view client_id) const {
  std::lock_guard lock(sessions_mutex_);
  auto it = sessions_.find(client_id);
  return it == sessions_.end() ? nullptr : it->second;
}

size_t Broker::publish(const MessagePtr& msg, const std::shared_ptr<ClientLink>* publisher, PublishNotes* notes) {
  if (msg->retain && !retained_.set(msg) && notes) notes->retain_refused = true;
  // Deliveries happen under the index's read lock: it keeps the matched sessions alive without
  // a reference count per delivery (a count every loop would write to).
  auto lock = index_.read_lock();
  const auto& matches = index_.match_cached_locked(msg->topic, static_cast<const Session*>(msg->origin));
  size_t n = matches.size();
  // QoS 0 to 3.x subscribers is the same bytes for all of them (per RETAIN flag): encode once.
  thread_local std::string encoded[2];
  bool have[2] = {false, false};
  for (const auto& m : matches) {
    // mosquitto checks read access at delivery too: a subscription the ACL granted may
    // match topics a deny rule (or a reloaded file) withholds from this client.
    // The publisher still hears that there were subscribers, as from mosquitto.
    if (acl_ && !may_receive(*m.session, msg->topic)) {
      Stats::add(stats_.acl_denied);
      continue;
    }
    // [MQTT-3.3.1-9]: forwarded messages carry RETAIN 0 unless Retain As Published.
    Delivery d{std::min(m.qos, msg->qos), m.retain_as_published && msg->retain, m.identifiers, m.share, {}};
    if (d.qos == 0) {
      int r = d.retain ? 1 : 0;
      if (!have[r]) {
        encoded[r].clear();
        mqtt::encode_publish(encoded[r], mqtt::Version::v311, msg->topic, msg->payload, 0, d.retain, false, 0);
        have[r] = true;
      }
      d.encoded_v3 = encoded[r];
    }
    if ((d.qos > 0 || !m.session->deliver_qos0(*msg, d)) && m.session->deliver(msg, d, publisher) && notes)
      notes->congested = true;
  }
  // A caller's atomic batch (a QoS 2 PUBLISH) is written while the sessions that wait for it
  // are still held alive by the read lock.
  if (persist_ && persist_->batching()) persist_->end_batch();
  return n;
}

void Broker::publish_will(const MessagePtr& will, const Session* session) {
  if (!session || will_permitted(session->client_id(), session->login(), will->topic)) publish(will);
}

bool Broker::will_permitted(const std::string& client_id, const auth::Identity& login, std::string_view topic) {
  if (!acl_ || acl_->may_write(login.subject(client_id), topic)) return true;
  Stats::add(stats_.acl_denied);
  stats_.drop(DropReason::not_authorized);
  spdlog::info("will of client '{}' on '{}' not published: the ACL does not allow that topic", client_id, topic);
  return false;
}

std::function<bool(std::string_view)> Broker::read_check(std::string client_id, auth::Identity login) {
  if (!acl_) return {};
  return [acl = acl_, id = std::move(client_id), login = std::move(login), stats = &stats_](std::string_view topic) {
    if (acl->may_read(login.subject(id), topic)) return true;
    Stats::add(stats->acl_denied);
    return false;
  };
}

bool Broker::may_receive(const Session& session, std::string_view topic) const {
  if (!acl_) return true;
  return acl_->may_read(session.login().subject(session.client_id()), topic);
}

std::optional<std::vector<Broker::SubscribeResult>> Broker::subscribe(
    const std::shared_ptr<Session>& session, uint64_t generation,
    const std::vector<std::pair<std::string, SubscriptionOptions>>& subs) {
  // Under the registry's lock, so a takeover (which takes it too) cannot slip in between the
  // check and the change: a discarded session never gets back into the index.
  std::lock_guard lock(sessions_mutex_);
  if (!session->is_current(generation)) return std::nullopt;
  std::vector<SubscribeResult> results;
  // A persistent session's subscriptions are records: while the store refuses them, a SUBACK
  // granting one would be undone by the next restart, and what it was to receive lost.
  const bool durable = persist_ && session->expiry_interval() != 0;
  if (durable && !persist_->accepting()) {
    results.assign(subs.size(), SubscribeResult::store_refused);
    return results;
  }
  std::vector<std::pair<std::string, SubscriptionOptions>> admitted;
  std::vector<size_t> slot;  // results index of each admitted filter
  size_t count = session->subscription_count();
  for (const auto& sub : subs) {
    const auto& [filter, opts] = sub;
    // (clang before 16 cannot capture a structured binding: the lambda reads sub.first.)
    bool known = session->has_subscription(filter) ||
                 std::any_of(admitted.begin(), admitted.end(), [&](const auto& a) { return a.first == sub.first; });
    if (!known && limits_.max_subscriptions_per_client != 0 && count >= limits_.max_subscriptions_per_client) {
      results.push_back(SubscribeResult::quota_exceeded);
      continue;
    }
    if (!known) ++count;
    slot.push_back(results.size());
    results.push_back(SubscribeResult::added);
    admitted.emplace_back(filter, opts);
  }
  auto fresh = index_.add_all(session, admitted);
  for (size_t i = 0; i < admitted.size(); ++i) {
    session->remember_subscription(admitted[i].first, admitted[i].second);
    results[slot[i]] = fresh[i] ? SubscribeResult::added : SubscribeResult::replaced;
  }
  if (durable) {
    Persistence::tracker().refused = false;
    persist_->put_subscriptions(session->client_id(), session->incarnation(), admitted);
    if (Persistence::tracker().refused) {
      // Refused after all (the disk filled in between): the new filters go again; a replaced
      // one keeps its new options in memory, its old record on disk. The client hears failure.
      std::vector<std::string> added;
      for (size_t i = 0; i < admitted.size(); ++i) {
        if (fresh[i]) {
          added.push_back(admitted[i].first);
          session->forget_subscription(admitted[i].first);
        }
        results[slot[i]] = SubscribeResult::store_refused;
      }
      if (!added.empty()) index_.remove_all(session.get(), added);
    }
  }
  return results;
}

std::optional<std::vector<bool>> Broker::unsubscribe(const std::shared_ptr<Session>& session, uint64_t generation,
                                                     const std::vector<std::string>& filters) {
  std::lock_guard lock(sessions_mutex_);
  if (!session->is_current(generation)) return std::nullopt;
  auto removed = index_.remove_all(session.get(), filters);
  for (const auto& f : filters) session->forget_subscription(f);
  if (persist_ && session->recorded()) persist_->delete_subscriptions(session->client_id(), filters);
  return removed;
}

void Broker::persist_disconnect(const std::shared_ptr<Session>& session, uint64_t generation) {
  if (!persist_) return;
  std::lock_guard lock(sessions_mutex_);
  if (!session->is_current(generation) || !session->recorded()) return;
  if (session->expiry_interval() != 0) {
    persist_session_locked(*session);
    return;
  }
  delete_records_locked(*session, session->subscription_filters());
}

bool Broker::schedule_will(const std::shared_ptr<Session>& session, uint64_t generation, Will will,
                           Clock::time_point when) {
  std::lock_guard lock(sessions_mutex_);
  if (!session->is_current(generation)) return false;
  pending_wills_[session->client_id()] = PendingWill{will.msg, when, session};
  // The session keeps it too, so that its record (written when the connection is detached)
  // carries it across a restart.
  session->set_will(std::move(will));
  return true;
}

size_t Broker::tick(Clock::time_point now) {
  std::vector<std::pair<MessagePtr, std::shared_ptr<Session>>> due;
  std::vector<std::shared_ptr<Session>> ended;
  {
    std::lock_guard lock(sessions_mutex_);
    while (!expiring_.empty() && expiring_.begin()->first <= now) {
      auto s = expiring_.begin()->second;
      forget_expiry_locked(s.get());
      if (!s->expired(now)) continue;  // reattached meanwhile (its entry would be gone) or changed
      ended.push_back(s);
      // [MQTT-3.1.2-8]: a will still waiting goes out when its session ends.
      if (auto w = pending_wills_.find(s->client_id()); w != pending_wills_.end()) {
        due.emplace_back(std::move(w->second.msg), s);
        pending_wills_.erase(w);
      }
    }
    for (auto& s : ended) discard_locked(s);
    for (auto it = pending_wills_.begin(); it != pending_wills_.end();) {
      if (now >= it->second.when) {
        auto s = it->second.session.lock();
        due.emplace_back(std::move(it->second.msg), s);
        if (s && s->has_will()) {
          s->clear_will();
          if (persist_ && s->recorded()) persist_session_locked(*s);
        }
        it = pending_wills_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& s : ended) redistribute(s, true);
  for (auto& [w, s] : due) publish_will(w, s.get());
  retained_.remove_expired(now);
  return ended.size();
}

std::vector<MessagePtr> Broker::start_persistence(Persistence& p, Recovered& r) {
  std::vector<MessagePtr> due;
  std::lock_guard lock(sessions_mutex_);
  last_incarnation_ = std::max(last_incarnation_, r.max_incarnation);
  const auto now = Clock::now();
  const int64_t now_ms = wall_ms_now();
  auto will_of = [](const SessionImage& im, Clock::time_point when) {
    auto m = std::make_shared<Message>(*im.will);
    if (im.will_expiry > 0) m->expires_at = when + std::chrono::seconds(im.will_expiry);
    return MessagePtr(std::move(m));
  };
  // A will due now meets the ACL as it stands, as its client's last login (publish_will()
  // checks one that falls due while the server runs). A token's grants are not kept: a token
  // user's will is decided by the ACL file alone.
  auto add_due = [&](const SessionImage& im) {
    if (will_permitted(im.client_id, {im.username, nullptr}, im.will->topic)) due.push_back(will_of(im, now));
  };
  for (auto& rs : r.sessions) {
    auto& im = rs.image;
    // A session connected at the crash lost its connection then; the restart is the first
    // moment we can count from.
    const int64_t left_ms = im.disconnected_at_ms ? im.disconnected_at_ms : now_ms;
    if (im.expiry_interval == 0) {
      // A clean session (or one that expired while the server was down) that had a will:
      // [MQTT-3.1.2-8], it goes out now, and the session is no more.
      if (im.will) add_due(im);
      p.delete_session(im.client_id, {}, {}, {});
      continue;
    }
    auto s = std::make_shared<Session>(im.client_id, im.expiry_interval, limits_, stats_);
    s->set_persistence(&p, im.incarnation);
    const auto left = from_wall_ms(left_ms);
    s->restore(rs, left);
    sessions_.emplace(s->client_id(), s);
    Stats::add(stats_.clients_total);
    if (!rs.subscriptions.empty()) {
      index_.add_all(s, rs.subscriptions);
      for (const auto& [filter, opts] : rs.subscriptions) s->remember_subscription(filter, opts);
    }
    if (im.expiry_interval != kSessionNeverExpires)
      expiry_of_[s.get()] = expiring_.emplace(left + std::chrono::seconds(im.expiry_interval), s);
    if (im.will) {
      const int64_t due_ms = left_ms + int64_t(std::min(im.will_delay, im.expiry_interval)) * 1000;
      if (due_ms <= now_ms) {
        add_due(im);
      } else {
        auto when = from_wall_ms(due_ms);
        s->set_will(Will{im.will, im.will_delay, im.will_expiry});
        pending_wills_[s->client_id()] = PendingWill{will_of(im, when), when, s};
      }
    }
    p.put_session(s->image());  // disconnected as of now, its will as it now stands
    s->mark_recorded();
  }
  for (auto& m : r.retained) retained_.set(m);
  retained_.set_persistence(&p);
  persist_ = &p;
  return due;
}

size_t Broker::session_count() const {
  std::lock_guard lock(sessions_mutex_);
  return sessions_.size();
}

Broker::QueueTotals Broker::queue_totals() const {
  std::vector<std::shared_ptr<Session>> all;
  {
    std::lock_guard lock(sessions_mutex_);
    all.reserve(sessions_.size());
    for (auto& [id, s] : sessions_) all.push_back(s);
  }
  QueueTotals t;
  t.sessions = all.size();
  for (auto& s : all) {
    t.queued += s->queued();
    t.inflight += s->inflight();
  }
  return t;
}

bool Broker::disconnect_client(std::string_view client_id) {
  std::shared_ptr<Session> s = find_session(client_id);
  std::shared_ptr<ClientLink> link = s ? s->link() : nullptr;
  if (!link) return false;
  link->disconnect(mqtt::ReasonCode::administrative_action);
  return true;
}

std::vector<Session::Info> Broker::sessions_snapshot() const {
  std::vector<std::shared_ptr<Session>> all;
  {
    std::lock_guard lock(sessions_mutex_);
    all.reserve(sessions_.size());
    for (auto& [id, s] : sessions_) all.push_back(s);
  }
  std::vector<Session::Info> out;
  out.reserve(all.size());
  for (auto& s : all) out.push_back(s->info());
  return out;
}

std::vector<MessagePtr> Broker::retained_snapshot() {
  std::vector<MessagePtr> out;
  retained_.match("#", out);
  return out;
}

}  // namespace mqbase::broker
