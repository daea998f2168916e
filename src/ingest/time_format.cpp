// time_format: parse_time(), a cell read as nanoseconds since the Unix epoch. Epoch numbers
// are scaled by their unit ("ns", "us", "ms", "s"); text is RFC 3339 or a Go-style layout as
// machbase-neo takes them ("2006-01-02 15:04:05.999999999"), and text without a UTC offset is
// read in a time zone: UTC, "Local" (the process's, through localtime_r), a fixed offset, or an
// IANA zone read from its TZif file under /usr/share/zoneinfo. Calendar arithmetic is done here
// (days from a proleptic Gregorian date), never with mktime or the TZ variable, so that
// threads do not share hidden state; parsed zones are cached in a map behind a mutex, with a
// per-thread copy of the last one used so the hot path takes no lock. Nanoseconds in an int64
// reach from 1677-09-21 to 2262-04-11, and anything outside is an error.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>

#include "ingest/payload_internal.h"

namespace mqbase::ingest {
namespace {

using detail::quoted;

constexpr int64_t kNanosPerSecond = 1'000'000'000;
constexpr int64_t kSecondsPerDay = 86'400;
constexpr int64_t kMinYear = 1677;
constexpr int64_t kMaxYear = 2262;

// ---- Calendar ----------------------------------------------------------------------------

bool is_leap(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

int days_in_month(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// Days from 1970-01-01 to y-m-d. Years are counted from March so that February, with its leap
// day, ends the year; then every 400 years (146,097 days) repeat the same calendar.
int64_t days_from_civil(int64_t y, int m, int d) {
  if (m <= 2) --y;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t year_of_era = y - era * 400;                                  // 0..399
  int64_t month_from_march = m > 2 ? m - 3 : m + 9;                     // 0..11
  int64_t day_of_year = (153 * month_from_march + 2) / 5 + d - 1;       // 0..365
  int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146'097 + day_of_era - 719'468;  // 719,468: 0000-03-01 to 1970-01-01
}

// The year of a day counted from 1970-01-01 (the inverse of the above, year only).
int64_t year_of_days(int64_t days) {
  int64_t z = days + 719'468;
  int64_t era = (z >= 0 ? z : z - 146'096) / 146'097;
  int64_t day_of_era = z - era * 146'097;
  int64_t year_of_era = (day_of_era - day_of_era / 1'460 + day_of_era / 36'524 - day_of_era / 146'096) / 365;
  int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  int64_t month_from_march = (5 * day_of_year + 2) / 153;
  return year_of_era + era * 400 + (month_from_march >= 10 ? 1 : 0);
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

// ---- Time zones --------------------------------------------------------------------------

// The POSIX TZ rule at the end of a TZif file ("EST5EDT,M3.2.0,M11.1.0"), which carries the
// zone past its last listed transition.
struct PosixRule {
  struct When {
    char form = 'M';  // 'M': month.week.weekday; 'J': day 1..365 without Feb 29; 'n': day 0..365
    int month = 0, week = 0, weekday = 0, day = 0;
    int32_t time = 7200;  // seconds of local time after midnight (may be negative or > 24 h)
  };
  int32_t std_offset = 0;  // seconds east of UTC
  int32_t dst_offset = 0;
  bool has_dst = false;
  When start, end;

  // The UTC second `when` falls on in year `y`, read in the offset then in effect.
  static int64_t instant(const When& when, int64_t y, int32_t offset) {
    int64_t days;
    if (when.form == 'M') {
      int64_t first = days_from_civil(y, when.month, 1);
      int first_weekday = static_cast<int>(((first % 7) + 11) % 7);  // 1970-01-01: Thursday
      int day = 1 + (when.weekday - first_weekday + 7) % 7 + (when.week - 1) * 7;
      while (day > days_in_month(y, when.month)) day -= 7;
      days = first + day - 1;
    } else if (when.form == 'J') {
      days = days_from_civil(y, 1, 1) + when.day - 1 + (is_leap(y) && when.day >= 60 ? 1 : 0);
    } else {
      days = days_from_civil(y, 1, 1) + when.day;
    }
    return days * kSecondsPerDay + when.time - offset;
  }

  int32_t offset_at(int64_t utc) const {
    if (!has_dst) return std_offset;
    int64_t y = year_of_days(floor_div(utc + std_offset, kSecondsPerDay));
    int64_t begin = instant(start, y, std_offset);
    int64_t finish = instant(end, y, dst_offset);
    bool dst = begin < finish ? utc >= begin && utc < finish : !(utc >= finish && utc < begin);
    return dst ? dst_offset : std_offset;
  }
};

// A TZif zone: offsets by transition, then the POSIX rule (or the last offset) after them.
struct Zone {
  std::vector<int64_t> transitions;  // UTC seconds, ascending
  std::vector<uint8_t> types;        // the offset index from each transition on
  std::vector<int32_t> offsets;      // seconds east of UTC, by type
  bool has_rule = false;
  PosixRule rule;

  int32_t offset_at(int64_t utc) const {
    if (transitions.empty() || utc < transitions.front()) {
      // RFC 8536: before the first transition, type 0; a file without transitions may be all
      // rule.
      return transitions.empty() && has_rule ? rule.offset_at(utc) : offsets[0];
    }
    size_t i = static_cast<size_t>(std::upper_bound(transitions.begin(), transitions.end(), utc) -
                                   transitions.begin()) - 1;
    if (i + 1 == transitions.size() && has_rule) return rule.offset_at(utc);
    return offsets[types[i]];
  }
};

// ---- POSIX TZ strings --------------------------------------------------------------------

class TzReader {
 public:
  explicit TzReader(std::string_view s) : s_(s) {}
  bool done() const { return i_ == s_.size(); }
  bool peek(char c) const { return i_ < s_.size() && s_[i_] == c; }
  bool take(char c) {
    if (!peek(c)) return false;
    ++i_;
    return true;
  }
  bool peek_offset() const {
    return i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-' || (s_[i_] >= '0' && s_[i_] <= '9'));
  }
  // An abbreviation: 3 or more letters, or <...> (which may hold digits and signs).
  bool name() {
    if (take('<')) {
      size_t close = s_.find('>', i_);
      if (close == std::string_view::npos || close - i_ < 3) return false;
      i_ = close + 1;
      return true;
    }
    size_t start = i_;
    while (i_ < s_.size() && ((s_[i_] | 0x20) >= 'a' && (s_[i_] | 0x20) <= 'z')) ++i_;
    return i_ - start >= 3;
  }
  bool number(int max, int* v) {
    size_t start = i_;
    *v = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9' && i_ - start < 3) *v = *v * 10 + (s_[i_++] - '0');
    return i_ > start && *v <= max;
  }
  // [+-]hh[:mm[:ss]], hours up to `max_hours`.
  bool hms(int max_hours, int32_t* seconds) {
    bool negative = take('-');
    if (!negative) take('+');
    int h, m = 0, sec = 0;
    if (!number(max_hours, &h)) return false;
    if (take(':') && !number(59, &m)) return false;
    if (take(':') && !number(59, &sec)) return false;
    *seconds = (h * 3600 + m * 60 + sec) * (negative ? -1 : 1);
    return true;
  }
  bool when(PosixRule::When* w) {
    if (take('M')) {
      w->form = 'M';
      if (!number(12, &w->month) || w->month < 1 || !take('.') || !number(5, &w->week) || w->week < 1 ||
          !take('.') || !number(6, &w->weekday))
        return false;
    } else if (take('J')) {
      w->form = 'J';
      if (!number(365, &w->day) || w->day < 1) return false;
    } else {
      w->form = 'n';
      if (!number(365, &w->day)) return false;
    }
    w->time = 7200;
    return !take('/') || hms(167, &w->time);
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

bool parse_posix_rule(std::string_view s, PosixRule* r) {
  TzReader in(s);
  int32_t offset;
  if (!in.name() || !in.hms(24, &offset)) return false;
  r->std_offset = -offset;  // POSIX counts west of UTC
  if (in.done()) return true;
  if (!in.name()) return false;
  r->dst_offset = r->std_offset + 3600;
  if (in.peek_offset()) {
    if (!in.hms(24, &offset)) return false;
    r->dst_offset = -offset;
  }
  // Without rules, POSIX leaves the switch dates to the implementation: none here.
  if (in.done()) return true;
  if (!in.take(',') || !in.when(&r->start) || !in.take(',') || !in.when(&r->end) || !in.done()) return false;
  r->has_dst = true;
  return true;
}

// ---- TZif files (RFC 8536) ---------------------------------------------------------------

uint32_t be32(const unsigned char* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
int64_t be64(const unsigned char* p) {
  return static_cast<int64_t>(uint64_t{be32(p)} << 32 | be32(p + 4));
}

struct TzifHeader {
  char version;
  uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
  size_t data_size(size_t time_size) const {
    return timecnt * time_size + timecnt + typecnt * 6 + charcnt + leapcnt * (time_size + 4) + isstdcnt + isutcnt;
  }
};

bool read_header(std::string_view file, size_t at, TzifHeader* h) {
  if (file.size() - at < 44 || file.compare(at, 4, "TZif") != 0) return false;
  auto p = reinterpret_cast<const unsigned char*>(file.data() + at);
  h->version = static_cast<char>(p[4]);
  h->isutcnt = be32(p + 20);
  h->isstdcnt = be32(p + 24);
  h->leapcnt = be32(p + 28);
  h->timecnt = be32(p + 32);
  h->typecnt = be32(p + 36);
  h->charcnt = be32(p + 40);
  // Real files have a few hundred transitions; these bounds keep the sizes below from overflowing.
  return h->typecnt >= 1 && h->typecnt <= 256 && h->timecnt <= 100'000 && h->leapcnt <= 10'000 &&
         h->charcnt <= 100'000 && h->isstdcnt <= h->typecnt && h->isutcnt <= h->typecnt;
}

// Leap-second records (the "right/" zones) are ignored: their transitions are then off by at
// most the leap seconds so far, and nobody stamps telemetry in them.
bool parse_tzif(std::string_view file, Zone* zone) {
  TzifHeader h;
  if (!read_header(file, 0, &h)) return false;
  size_t at = 44;
  size_t time_size = 4;
  if (h.version >= '2') {
    // Version 2+ repeats the data with 64-bit times after the version 1 block: use that.
    at += h.data_size(4);
    if (at > file.size() || !read_header(file, at, &h)) return false;
    at += 44;
    time_size = 8;
  }
  if (file.size() - at < h.data_size(time_size)) return false;
  auto p = reinterpret_cast<const unsigned char*>(file.data() + at);
  zone->transitions.resize(h.timecnt);
  for (uint32_t i = 0; i < h.timecnt; ++i, p += time_size)
    zone->transitions[i] = time_size == 8 ? be64(p) : static_cast<int32_t>(be32(p));
  zone->types.assign(p, p + h.timecnt);
  p += h.timecnt;
  for (uint8_t t : zone->types)
    if (t >= h.typecnt) return false;
  zone->offsets.resize(h.typecnt);
  for (uint32_t i = 0; i < h.typecnt; ++i, p += 6) {
    auto offset = static_cast<int32_t>(be32(p));
    if (offset < -26 * 3600 || offset > 26 * 3600) return false;
    zone->offsets[i] = offset;
  }
  if (!std::is_sorted(zone->transitions.begin(), zone->transitions.end())) return false;
  at += h.data_size(time_size);
  if (time_size == 8 && at < file.size() && file[at] == '\n') {
    size_t close = file.find('\n', at + 1);
    if (close != std::string_view::npos && close > at + 1)
      zone->has_rule = parse_posix_rule(file.substr(at + 1, close - at - 1), &zone->rule);
  }
  return true;
}

bool valid_zone_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || name[0] == '/' || name[0] == '-' || name[0] == '+') return false;
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '+' || c == '-' || c == '/';
    if (!ok) return false;
  }
  return name.find("//") == std::string_view::npos;
}

std::shared_ptr<const Zone> load_zone(std::string_view name) {
  if (!valid_zone_name(name)) return nullptr;
  std::string path = "/usr/share/zoneinfo/";
  path += name;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return nullptr;
  std::string file;
  char chunk[4096];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0 && file.size() < (size_t{1} << 20)) file.append(chunk, n);
  bool failed = std::ferror(f) != 0;
  std::fclose(f);
  auto zone = std::make_shared<Zone>();
  if (failed || !parse_tzif(file, zone.get())) return nullptr;
  return zone;
}

// Zones by name, kept for the life of the process (unknown names too, as null, so that a bad
// name does not open a file per cell). Bounded: names past the bound are loaded per thread.
const Zone* find_zone(std::string_view name) {
  thread_local std::string last_name;
  thread_local std::shared_ptr<const Zone> last_zone;
  if (last_zone != nullptr && last_name == name) return last_zone.get();
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const Zone>, std::less<>> zones;
  static constexpr size_t kMaxZones = 512;
  std::shared_ptr<const Zone> zone;
  {
    std::lock_guard lock(mutex);
    if (auto it = zones.find(name); it != zones.end()) {
      zone = it->second;
      if (zone == nullptr) return nullptr;
    }
  }
  if (zone == nullptr) {
    zone = load_zone(name);
    std::lock_guard lock(mutex);
    if (zones.size() < kMaxZones) zone = zones.emplace(std::string(name), zone).first->second;
    if (zone == nullptr) return nullptr;
  }
  last_name = name;
  last_zone = zone;
  return zone.get();
}

// A time zone as `tz` names it.
struct TimeZone {
  enum Kind { utc, fixed, local, tzif } kind = utc;
  int32_t offset = 0;  // fixed
  const Zone* zone = nullptr;

  int32_t offset_at(int64_t utc_seconds) const {
    switch (kind) {
      case utc: return 0;
      case fixed: return offset;
      case tzif: return zone->offset_at(utc_seconds);
      case local: {
        time_t t = static_cast<time_t>(utc_seconds);
        struct tm tm;
        if (localtime_r(&t, &tm) == nullptr) return 0;
        return static_cast<int32_t>(tm.tm_gmtoff);
      }
    }
    return 0;
  }

  // UTC seconds of a wall-clock time (counted as if it were UTC). A time skipped by a change to
  // summer time, or repeated by the change back, gets one of the two readings, as Go does.
  int64_t to_utc(int64_t local_seconds) const {
    int32_t off = offset_at(local_seconds);
    int64_t utc_seconds = local_seconds - off;
    int32_t actual = offset_at(utc_seconds);
    return actual == off ? utc_seconds : local_seconds - actual;
  }
};

// "+09:00", "+0900" or "+09" (and the same with '-') as seconds east of UTC.
bool fixed_offset(std::string_view s, int32_t* offset) {
  auto two = [&](size_t i, int* v) {
    if (s[i] < '0' || s[i] > '9' || s[i + 1] < '0' || s[i + 1] > '9') return false;
    *v = (s[i] - '0') * 10 + (s[i + 1] - '0');
    return true;
  };
  int h = 0, m = 0;
  bool ok = (s[0] == '+' || s[0] == '-') &&
            ((s.size() == 3 && two(1, &h)) || (s.size() == 5 && two(1, &h) && two(3, &m)) ||
             (s.size() == 6 && two(1, &h) && s[3] == ':' && two(4, &m)));
  if (!ok || h > 23 || m > 59) return false;
  *offset = (h * 3600 + m * 60) * (s[0] == '-' ? -1 : 1);
  return true;
}

bool resolve_zone(std::string_view tz, TimeZone* zone, std::string* error) {
  if (tz.empty() || tz == "UTC" || tz == "Z") {
    zone->kind = TimeZone::utc;
    return true;
  }
  if (tz == "Local") {
    zone->kind = TimeZone::local;
    return true;
  }
  if (tz[0] == '+' || tz[0] == '-') {
    zone->kind = TimeZone::fixed;
    if (fixed_offset(tz, &zone->offset)) return true;
  } else if ((zone->zone = find_zone(tz)) != nullptr) {
    zone->kind = TimeZone::tzif;
    return true;
  }
  if (error != nullptr) *error = "unknown time zone " + quoted(tz);
  return false;
}

// ---- Text --------------------------------------------------------------------------------

// A wall-clock time as read from text, with its UTC offset when the text gave one.
struct Fields {
  int64_t year = 0;
  int month = 1, day = 1, hour = 0, minute = 0, second = 0;
  int64_t nanos = 0;
  bool has_offset = false;
  int32_t offset = 0;
};

class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}
  bool done() const { return i_ == s_.size(); }
  char peek(size_t ahead = 0) const { return i_ + ahead < s_.size() ? s_[i_ + ahead] : '\0'; }
  bool is_digit(size_t ahead = 0) const { return peek(ahead) >= '0' && peek(ahead) <= '9'; }
  void skip(size_t n = 1) { i_ += n; }
  bool take(char c) {
    if (peek() != c || done()) return false;
    ++i_;
    return true;
  }
  // Exactly n digits.
  bool fixed(int n, int* v) {
    *v = 0;
    for (int k = 0; k < n; ++k) {
      if (!is_digit()) return false;
      *v = *v * 10 + (s_[i_++] - '0');
    }
    return true;
  }
  // 1..n digits.
  bool up_to(int n, int* v) {
    if (!is_digit()) return false;
    *v = 0;
    for (int k = 0; k < n && is_digit(); ++k) *v = *v * 10 + (s_[i_++] - '0');
    return true;
  }
  // Digits of a fraction of a second; digits past the ninth are read and dropped, as Go does.
  bool fraction(int64_t* nanos, size_t min_digits = 1, size_t max_digits = SIZE_MAX) {
    size_t start = i_;
    int64_t v = 0;
    while (is_digit() && i_ - start < max_digits) {
      if (i_ - start < 9) v = v * 10 + (s_[i_] - '0');
      ++i_;
    }
    size_t n = i_ - start;
    if (n < min_digits) return false;
    for (size_t k = n; k < 9; ++k) v *= 10;
    *nanos = v;
    return true;
  }
  // A case-insensitive word from `words`: its index, or -1.
  int word(const char* const* words, int count) {
    for (int w = 0; w < count; ++w) {
      std::string_view cand(words[w]);
      if (s_.size() - i_ < cand.size()) continue;
      bool same = true;
      for (size_t k = 0; k < cand.size() && same; ++k) same = (s_[i_ + k] | 0x20) == (cand[k] | 0x20);
      if (same) {
        i_ += cand.size();
        return w;
      }
    }
    return -1;
  }
  std::string_view rest() const { return s_.substr(i_); }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

// [+-]hh, then per `form`: "" nothing, ":" :mm, "" mm, ":mm:ss" or mmss.
enum class OffsetForm { hh, hhmm, hh_mm, hhmmss, hh_mm_ss };

bool read_offset(Scanner& in, OffsetForm form, int32_t* offset) {
  char sign = in.peek();
  if (sign != '+' && sign != '-') return false;
  in.skip();
  int h, m = 0, s = 0;
  if (!in.fixed(2, &h)) return false;
  bool colon = form == OffsetForm::hh_mm || form == OffsetForm::hh_mm_ss;
  if (form != OffsetForm::hh) {
    if (colon && !in.take(':')) return false;
    if (!in.fixed(2, &m)) return false;
  }
  if (form == OffsetForm::hhmmss || form == OffsetForm::hh_mm_ss) {
    if (colon && !in.take(':')) return false;
    if (!in.fixed(2, &s)) return false;
  }
  if (h > 23 || m > 59 || s > 59) return false;
  *offset = (h * 3600 + m * 60 + s) * (sign == '-' ? -1 : 1);
  return true;
}

// RFC 3339 (2024-05-01T12:00:00.123+02:00), also with t, z or a space for the T, "+0200" and
// "+02", and without an offset (then read in the zone).
bool parse_rfc3339(std::string_view text, Fields* f) {
  Scanner in(text);
  int y;
  if (!in.fixed(4, &y) || !in.take('-') || !in.fixed(2, &f->month) || !in.take('-') || !in.fixed(2, &f->day))
    return false;
  f->year = y;
  char t = in.peek();
  if (t != 'T' && t != 't' && t != ' ') return false;
  in.skip();
  if (!in.fixed(2, &f->hour) || !in.take(':') || !in.fixed(2, &f->minute) || !in.take(':') ||
      !in.fixed(2, &f->second))
    return false;
  if (in.take('.') && !in.fraction(&f->nanos)) return false;
  if (in.done()) return true;
  if (in.take('Z') || in.take('z')) {
    f->has_offset = true;
    return in.done();
  }
  OffsetForm form = in.peek(3) == ':' ? OffsetForm::hh_mm : in.is_digit(3) ? OffsetForm::hhmm : OffsetForm::hh;
  f->has_offset = read_offset(in, form, &f->offset);
  return f->has_offset && in.done();
}

// ---- Go layouts --------------------------------------------------------------------------

// The elements of a Go layout: the parts of its reference time, Mon Jan 2 15:04:05 MST 2006.
enum class Element {
  literal, year, year2, month, month0, month_abbr, month_name, day, day0, day_space, weekday_abbr,
  weekday_name, hour, hour12, hour12_0, minute, minute0, second, second0, fraction0, fraction9,
  pm, pm_lower, zone_abbr, offset, offset_z
};

struct Chunk {
  Element element = Element::literal;
  size_t size = 1;     // of the layout text
  int digits = 0;      // fraction0 / fraction9
  OffsetForm form = OffsetForm::hh_mm;
};

bool starts(std::string_view s, size_t i, std::string_view p) { return s.compare(i, p.size(), p) == 0; }

// The element at layout[i], longest forms first, as Go recognises them.
Chunk chunk_at(std::string_view layout, size_t i) {
  auto is = [&](std::string_view p, Element e) { return starts(layout, i, p) ? Chunk{e, p.size()} : Chunk{}; };
  auto first = [](std::initializer_list<Chunk> cs) {
    for (const Chunk& c : cs)
      if (c.element != Element::literal) return c;
    return Chunk{};
  };
  auto offset = [&](char lead, Element e) {
    static constexpr std::pair<std::string_view, OffsetForm> kForms[] = {
        {"07:00:00", OffsetForm::hh_mm_ss}, {"070000", OffsetForm::hhmmss}, {"07:00", OffsetForm::hh_mm},
        {"0700", OffsetForm::hhmm},         {"07", OffsetForm::hh}};
    for (auto [p, form] : kForms)
      if (layout[i] == lead && starts(layout, i + 1, p)) return Chunk{e, p.size() + 1, 0, form};
    return Chunk{};
  };
  switch (layout[i]) {
    case 'J': return first({is("January", Element::month_name), is("Jan", Element::month_abbr)});
    case 'M': return first({is("Monday", Element::weekday_name), is("Mon", Element::weekday_abbr),
                            is("MST", Element::zone_abbr)});
    case '0':
      if (i + 1 < layout.size() && layout[i + 1] >= '1' && layout[i + 1] <= '6') {
        static constexpr Element kZero[] = {Element::month0, Element::day0, Element::hour12_0,
                                            Element::minute0, Element::second0, Element::year2};
        return Chunk{kZero[layout[i + 1] - '1'], 2};
      }
      return Chunk{};
    case '1': return first({is("15", Element::hour), is("1", Element::month)});
    case '2': return first({is("2006", Element::year), is("2", Element::day)});
    case '_': return starts(layout, i, "_2006") ? Chunk{} : is("_2", Element::day_space);  // Go: '_', then the year
    case '3': return is("3", Element::hour12);
    case '4': return is("4", Element::minute);
    case '5': return is("5", Element::second);
    case 'P': return is("PM", Element::pm);
    case 'p': return is("pm", Element::pm_lower);
    case '-': return offset('-', Element::offset);
    case 'Z': return offset('Z', Element::offset_z);
    case '.':
    case ',': {
      size_t j = i + 1;
      char run = j < layout.size() ? layout[j] : '\0';
      if (run != '0' && run != '9') return Chunk{};
      while (j < layout.size() && layout[j] == run) ++j;
      if (j < layout.size() && layout[j] >= '0' && layout[j] <= '9') return Chunk{};
      return Chunk{run == '0' ? Element::fraction0 : Element::fraction9, j - i, static_cast<int>(j - i - 1)};
    }
    default: return Chunk{};
  }
}

constexpr const char* kMonthNames[] = {"January", "February", "March",     "April",   "May",      "June",
                                       "July",    "August",   "September", "October", "November", "December"};
constexpr const char* kMonthAbbrs[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr const char* kDayNames[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
constexpr const char* kDayAbbrs[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

bool has_elements(std::string_view layout) {
  for (size_t i = 0; i < layout.size();) {
    Chunk c = chunk_at(layout, i);
    if (c.element != Element::literal) return true;
    i += c.size;
  }
  return false;
}

// Reads `text` by `layout`. Runs of spaces match runs of spaces, as in Go.
bool parse_layout(std::string_view text, std::string_view layout, Fields* f) {
  Scanner in(text);
  bool pm = false, am = false, hour12 = false;
  for (size_t i = 0; i < layout.size();) {
    Chunk c = chunk_at(layout, i);
    i += c.size;
    int v = 0;
    switch (c.element) {
      case Element::literal: {
        char l = layout[i - 1];
        if (l == ' ') {
          if (in.peek() != ' ' || in.done()) return false;
          while (i < layout.size() && layout[i] == ' ') ++i;
          while (!in.done() && in.peek() == ' ') in.skip();
        } else if (!in.take(l)) {
          return false;
        }
        break;
      }
      case Element::year:
        if (!in.fixed(4, &v)) return false;
        f->year = v;
        break;
      case Element::year2:
        if (!in.fixed(2, &v)) return false;
        f->year = v >= 69 ? 1900 + v : 2000 + v;
        break;
      case Element::month:
      case Element::month0:
        if (!(c.element == Element::month0 ? in.fixed(2, &f->month) : in.up_to(2, &f->month))) return false;
        break;
      case Element::month_abbr:
      case Element::month_name: {
        int m = in.word(c.element == Element::month_name ? kMonthNames : kMonthAbbrs, 12);
        if (m < 0) return false;
        f->month = m + 1;
        break;
      }
      case Element::weekday_abbr:
      case Element::weekday_name:
        if (in.word(c.element == Element::weekday_name ? kDayNames : kDayAbbrs, 7) < 0) return false;
        break;
      case Element::day_space:
        if (in.peek() == ' ' && !in.done()) in.skip();
        [[fallthrough]];
      case Element::day:
        if (!in.up_to(2, &f->day)) return false;
        break;
      case Element::day0:
        if (!in.fixed(2, &f->day)) return false;
        break;
      case Element::hour:
        if (!in.up_to(2, &f->hour)) return false;
        break;
      case Element::hour12:
      case Element::hour12_0:
        if (!(c.element == Element::hour12_0 ? in.fixed(2, &f->hour) : in.up_to(2, &f->hour))) return false;
        if (f->hour > 12) return false;
        hour12 = true;
        break;
      case Element::minute:
      case Element::minute0:
        if (!(c.element == Element::minute0 ? in.fixed(2, &f->minute) : in.up_to(2, &f->minute))) return false;
        break;
      case Element::second:
      case Element::second0: {
        if (!(c.element == Element::second0 ? in.fixed(2, &f->second) : in.up_to(2, &f->second))) return false;
        // Go takes a fraction after the seconds even when the layout has none.
        bool layout_fraction = i < layout.size() && (chunk_at(layout, i).element == Element::fraction0 ||
                                                     chunk_at(layout, i).element == Element::fraction9);
        if (!layout_fraction && (in.peek() == '.' || in.peek() == ',') && in.is_digit(1)) {
          in.skip();
          in.fraction(&f->nanos);
        }
        break;
      }
      case Element::fraction0:
        if ((!in.take('.') && !in.take(',')) ||
            !in.fraction(&f->nanos, static_cast<size_t>(c.digits), static_cast<size_t>(c.digits)))
          return false;
        break;
      case Element::fraction9:
        // Optional: absent unless a separator and a digit follow.
        if ((in.peek() == '.' || in.peek() == ',') && in.is_digit(1)) {
          in.skip();
          in.fraction(&f->nanos);
        }
        break;
      case Element::pm:
      case Element::pm_lower: {
        std::string_view r = in.rest();
        bool upper = c.element == Element::pm;
        if (starts(r, 0, upper ? "PM" : "pm")) {
          pm = true;
        } else if (starts(r, 0, upper ? "AM" : "am")) {
          am = true;
        } else {
          return false;
        }
        in.skip(2);
        break;
      }
      case Element::zone_abbr: {
        // An abbreviation does not say its offset (CST is three zones); only UTC and GMT do.
        std::string_view r = in.rest();
        size_t n = 0;
        while (n < r.size() && r[n] >= 'A' && r[n] <= 'Z') ++n;
        if (n < 3 || n > 5) return false;
        if (r.substr(0, n) == "UTC" || r.substr(0, n) == "GMT") {
          f->has_offset = true;
          f->offset = 0;
        }
        in.skip(n);
        break;
      }
      case Element::offset_z:
        if (in.take('Z')) {
          f->has_offset = true;
          f->offset = 0;
          break;
        }
        [[fallthrough]];
      case Element::offset:
        if (!read_offset(in, c.form, &f->offset)) return false;
        f->has_offset = true;
        break;
    }
  }
  if (!in.done()) return false;
  if (hour12) {
    if (pm && f->hour < 12) f->hour += 12;
    if (am && f->hour == 12) f->hour = 0;
  }
  return true;
}

// ---- Conversions -------------------------------------------------------------------------

bool fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return false;
}

bool to_nanos(const Fields& f, std::string_view text, std::string_view tz, int64_t* ns, std::string* error) {
  if (f.month < 1 || f.month > 12 || f.day < 1 || f.day > days_in_month(f.year, f.month) || f.hour > 23 ||
      f.minute > 59 || f.second > 59)
    return fail(error, "time " + quoted(text) + " is not a valid date and time");
  if (f.year < kMinYear || f.year > kMaxYear)
    return fail(error, "time " + quoted(text) + " is out of range (years 1677 to 2262)");
  int64_t local = days_from_civil(f.year, f.month, f.day) * kSecondsPerDay + f.hour * 3600 + f.minute * 60 + f.second;
  int64_t utc;
  if (f.has_offset) {
    utc = local - f.offset;
  } else {
    TimeZone zone;
    if (!resolve_zone(tz, &zone, error)) return false;
    utc = zone.to_utc(local);
  }
  // Before 1970 the fraction is added to the second above, so that the earliest instant
  // (1677-09-21T00:12:43.145224192Z) does not pass through a product out of range.
  int64_t nanos = f.nanos;
  if (utc < 0 && nanos > 0) {
    ++utc;
    nanos -= kNanosPerSecond;
  }
  int64_t scaled;
  if (__builtin_mul_overflow(utc, kNanosPerSecond, &scaled) || __builtin_add_overflow(scaled, nanos, ns))
    return fail(error, "time " + quoted(text) + " is out of range (years 1677 to 2262)");
  return true;
}

bool is_rfc3339(std::string_view format) {
  static constexpr std::string_view kName = "rfc3339";
  if (format.size() != kName.size()) return false;
  for (size_t i = 0; i < kName.size(); ++i)
    if ((format[i] | 0x20) != kName[i]) return false;
  return true;
}

// Nanoseconds per unit of an epoch format, or 0 when `format` is not one.
int64_t epoch_unit(std::string_view format) {
  if (format.empty() || format == "ns") return 1;
  if (format == "us") return 1'000;
  if (format == "ms") return 1'000'000;
  if (format == "s") return kNanosPerSecond;
  return 0;
}

bool text_time(std::string_view text, std::string_view format, std::string_view tz, int64_t* ns,
               std::string* error) {
  bool layout = epoch_unit(format) == 0 && !is_rfc3339(format);
  if (layout) {
    Fields f;
    if (parse_layout(text, format, &f)) return to_nanos(f, text, tz, ns, error);
  }
  Fields f;
  if (parse_rfc3339(text, &f)) return to_nanos(f, text, tz, ns, error);
  if (layout) return fail(error, "time " + quoted(text) + " does not match layout " + quoted(format));
  return fail(error, "time " + quoted(text) + " is not an RFC 3339 time");
}

std::string number_text(double d) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

bool scale_integer(int64_t v, int64_t unit, int64_t* ns, std::string* error) {
  if (__builtin_mul_overflow(v, unit, ns)) return fail(error, "time " + std::to_string(v) + " is out of range");
  return true;
}

// Whole units and the fraction are scaled apart, so that a double of seconds keeps what
// precision it has (about 0.2 us today) instead of losing it to the product's rounding.
bool scale_number(double d, int64_t unit, int64_t* ns, std::string* error) {
  constexpr double kTwo63 = 9223372036854775808.0;
  double whole;
  double frac = std::modf(d, &whole);
  int64_t scaled;
  if (!std::isfinite(d) || whole < -kTwo63 || whole >= kTwo63 ||
      __builtin_mul_overflow(static_cast<int64_t>(whole), unit, &scaled) ||
      __builtin_add_overflow(scaled, std::llround(frac * static_cast<double>(unit)), ns))
    return fail(error, "time " + number_text(d) + " is out of range");
  return true;
}

}  // namespace

bool parse_time(const Cell& cell, std::string_view format, std::string_view tz, int64_t* ns, std::string* error) {
  int64_t unit = epoch_unit(format);
  switch (cell.kind) {
    case Cell::Kind::integer:
      if (unit != 0) return scale_integer(cell.i, unit, ns, error);
      return fail(error, "time " + std::to_string(cell.i) + " is a number, not text in format " + quoted(format));
    case Cell::Kind::number:
      if (unit != 0) return scale_number(cell.d, unit, ns, error);
      return fail(error, "time " + number_text(cell.d) + " is a number, not text in format " + quoted(format));
    case Cell::Kind::string: {
      if (unit != 0) {
        int64_t i;
        double d;
        if (detail::read_int64(cell.s, &i)) return scale_integer(i, unit, ns, error);
        if (detail::read_double(cell.s, &d)) return scale_number(d, unit, ns, error);
      } else if (!is_rfc3339(format) && !has_elements(format)) {
        return fail(error, "unknown time format " + quoted(format));
      }
      return text_time(cell.s, format, tz, ns, error);
    }
    case Cell::Kind::null: return fail(error, "time is null");
    case Cell::Kind::boolean: return fail(error, std::string("time ") + (cell.i ? "true" : "false") + " is not a time");
    case Cell::Kind::json: return fail(error, "time " + quoted(cell.s) + " is JSON, not a time");
  }
  return fail(error, "time is not a time");
}


// ---- Formatting --------------------------------------------------------------------------
// format_time() writes what parse_time() reads: the same formats, the same Go layout elements
// (chunk_at above), the same zones. utc_offset() and utc_from_local() give the SQL engine a
// zone's offsets (date_trunc and time_bucket in a time zone) without a second zone reader.

namespace {

// y-m-d of a day counted from 1970-01-01 (the inverse of days_from_civil).
void civil_from_days(int64_t days, int64_t* y, int* m, int* d) {
  int64_t z = days + 719'468;
  int64_t era = (z >= 0 ? z : z - 146'096) / 146'097;
  int64_t day_of_era = z - era * 146'097;
  int64_t year_of_era = (day_of_era - day_of_era / 1'460 + day_of_era / 36'524 - day_of_era / 146'096) / 365;
  int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  int64_t month_from_march = (5 * day_of_year + 2) / 153;
  *d = static_cast<int>(day_of_year - (153 * month_from_march + 2) / 5 + 1);
  *m = static_cast<int>(month_from_march < 10 ? month_from_march + 3 : month_from_march - 9);
  *y = year_of_era + era * 400 + (*m <= 2 ? 1 : 0);
}

// `v` (>= 0) in decimal, zero-padded to `width` digits.
void append_digits(std::string* out, int64_t v, int width) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  for (int n = static_cast<int>(end - buf); n < width; ++n) out->push_back('0');
  out->append(buf, end);
}

void append_offset(std::string* out, int32_t offset, OffsetForm form) {
  out->push_back(offset < 0 ? '-' : '+');
  if (offset < 0) offset = -offset;
  append_digits(out, offset / 3600, 2);
  bool colon = form == OffsetForm::hh_mm || form == OffsetForm::hh_mm_ss;
  if (form != OffsetForm::hh) {
    if (colon) out->push_back(':');
    append_digits(out, offset / 60 % 60, 2);
  }
  if (form == OffsetForm::hhmmss || form == OffsetForm::hh_mm_ss) {
    if (colon) out->push_back(':');
    append_digits(out, offset % 60, 2);
  }
}

// The instant `ns`, `offset` seconds east of UTC, by a Go layout. The zone has no name here
// (abbreviations are not read from TZif files), so MST shows "UTC" in UTC and the numeric
// offset (+0900) elsewhere, as Go does for a zone without one.
void format_layout(int64_t ns, int32_t offset, bool utc, std::string_view layout, std::string* out) {
  int64_t seconds = floor_div(ns, kNanosPerSecond);
  int64_t nanos = ns % kNanosPerSecond;  // not ns - seconds * 1e9, which overflows at the low end
  if (nanos < 0) nanos += kNanosPerSecond;
  int64_t local = seconds + offset;
  int64_t days = floor_div(local, kSecondsPerDay);
  int64_t second_of_day = local - days * kSecondsPerDay;
  int64_t year;
  int month, day;
  civil_from_days(days, &year, &month, &day);
  int hour = static_cast<int>(second_of_day / 3600);
  int weekday = static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01: Thursday
  for (size_t i = 0; i < layout.size();) {
    Chunk c = chunk_at(layout, i);
    std::string_view text = layout.substr(i, c.size);
    i += c.size;
    switch (c.element) {
      case Element::literal: out->append(text); break;
      case Element::year: append_digits(out, year, 4); break;
      case Element::year2: append_digits(out, year % 100, 2); break;
      case Element::month: append_digits(out, month, 0); break;
      case Element::month0: append_digits(out, month, 2); break;
      case Element::month_abbr: out->append(kMonthAbbrs[month - 1]); break;
      case Element::month_name: out->append(kMonthNames[month - 1]); break;
      case Element::day: append_digits(out, day, 0); break;
      case Element::day0: append_digits(out, day, 2); break;
      case Element::day_space:
        if (day < 10) out->push_back(' ');
        append_digits(out, day, 0);
        break;
      case Element::weekday_abbr: out->append(kDayAbbrs[weekday]); break;
      case Element::weekday_name: out->append(kDayNames[weekday]); break;
      case Element::hour: append_digits(out, hour, 2); break;
      case Element::hour12:
      case Element::hour12_0:
        append_digits(out, hour % 12 == 0 ? 12 : hour % 12, c.element == Element::hour12_0 ? 2 : 0);
        break;
      case Element::minute: append_digits(out, second_of_day / 60 % 60, 0); break;
      case Element::minute0: append_digits(out, second_of_day / 60 % 60, 2); break;
      case Element::second: append_digits(out, second_of_day % 60, 0); break;
      case Element::second0: append_digits(out, second_of_day % 60, 2); break;
      case Element::fraction0:
      case Element::fraction9: {
        // Digits past the layout's are cut, not rounded, and at most 9 are shown, as Go does;
        // .999 drops trailing zeros and, when none are left, the separator too.
        int digits = std::min(c.digits, 9);
        int64_t shown = nanos;
        for (int k = digits; k < 9; ++k) shown /= 10;
        if (c.element == Element::fraction9) {
          while (digits > 0 && shown % 10 == 0) {
            shown /= 10;
            --digits;
          }
          if (digits == 0) break;
        }
        out->push_back(text[0]);
        append_digits(out, shown, digits);
        break;
      }
      case Element::pm: out->append(hour >= 12 ? "PM" : "AM"); break;
      case Element::pm_lower: out->append(hour >= 12 ? "pm" : "am"); break;
      case Element::zone_abbr:
        if (utc) {
          out->append("UTC");
        } else {
          append_offset(out, offset, OffsetForm::hhmm);
        }
        break;
      case Element::offset_z:
        if (offset == 0) {
          out->push_back('Z');
          break;
        }
        [[fallthrough]];
      case Element::offset: append_offset(out, offset, c.form); break;
    }
  }
}

}  // namespace

bool utc_offset(std::string_view tz, int64_t ns, int64_t* offset_ns, std::string* error) {
  TimeZone zone;
  if (!resolve_zone(tz, &zone, error)) return false;
  *offset_ns = int64_t{zone.offset_at(floor_div(ns, kNanosPerSecond))} * kNanosPerSecond;
  return true;
}

bool utc_from_local(std::string_view tz, int64_t local_ns, int64_t* utc_ns, std::string* error) {
  TimeZone zone;
  if (!resolve_zone(tz, &zone, error)) return false;
  int64_t local_seconds = floor_div(local_ns, kNanosPerSecond);
  int64_t shift = (zone.to_utc(local_seconds) - local_seconds) * kNanosPerSecond;
  if (__builtin_add_overflow(local_ns, shift, utc_ns)) return fail(error, "time is out of range (years 1677 to 2262)");
  return true;
}

bool format_time(int64_t ns, std::string_view format, std::string_view tz, std::string* out, std::string* error) {
  if (int64_t unit = epoch_unit(format); unit != 0) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, floor_div(ns, unit));
    out->append(buf, end);
    return true;
  }
  std::string_view layout = format;
  if (is_rfc3339(format)) {
    layout = "2006-01-02T15:04:05.999999999Z07:00";
  } else if (!has_elements(format)) {
    return fail(error, "unknown time format " + quoted(format));
  }
  TimeZone zone;
  if (!resolve_zone(tz, &zone, error)) return false;
  format_layout(ns, zone.offset_at(floor_div(ns, kNanosPerSecond)), zone.kind == TimeZone::utc, layout, out);
  return true;
}

}  // namespace mqbase::ingest
