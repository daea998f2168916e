// Time values (parse_time in src/ingest/payload.h): epoch numbers in each unit, RFC 3339 with
// offsets and fractions, Go layouts, time zones (fixed, IANA with their summer time before and
// after the last transition their file lists, Local), leap years, times before 1970, the int64
// range at both ends, and the errors. Expected instants were worked out with Python's zoneinfo.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "ingest/payload.h"

namespace mqbase::ingest {
namespace {

using ::testing::HasSubstr;
using Lim = std::numeric_limits<int64_t>;

constexpr int64_t kSec = 1'000'000'000;

Cell integer(int64_t v) {
  Cell c;
  c.kind = Cell::Kind::integer;
  c.i = v;
  c.d = static_cast<double>(v);
  return c;
}
Cell number(double v) {
  Cell c;
  c.kind = Cell::Kind::number;
  c.d = v;
  return c;
}
Cell text(std::string_view s) {
  Cell c;
  c.kind = Cell::Kind::string;
  c.s = s;
  return c;
}

// The nanoseconds of what must read as a time.
int64_t ns(const Cell& cell, std::string_view format = "", std::string_view tz = "") {
  int64_t v = 0;
  std::string error;
  EXPECT_TRUE(parse_time(cell, format, tz, &v, &error)) << error;
  EXPECT_EQ(error, "");
  return v;
}
int64_t ns(std::string_view s, std::string_view format = "", std::string_view tz = "") {
  return ns(text(s), format, tz);
}

// The error of what must not.
std::string error(const Cell& cell, std::string_view format = "", std::string_view tz = "") {
  int64_t v = 0;
  std::string e;
  EXPECT_FALSE(parse_time(cell, format, tz, &v, &e));
  return e;
}
std::string error(std::string_view s, std::string_view format = "", std::string_view tz = "") {
  return error(text(s), format, tz);
}

TEST(EpochTime, IntegersInEachUnit) {
  EXPECT_EQ(ns(integer(1714564800123456789)), 1714564800123456789);
  EXPECT_EQ(ns(integer(1714564800123456789), "ns"), 1714564800123456789);
  EXPECT_EQ(ns(integer(1714564800123456), "us"), 1714564800123456000);
  EXPECT_EQ(ns(integer(1714564800123), "ms"), 1714564800123000000);
  EXPECT_EQ(ns(integer(1714564800), "s"), 1714564800 * kSec);
  EXPECT_EQ(ns(integer(-1), "s"), -kSec);
  EXPECT_EQ(ns(integer(Lim::min()), "ns"), Lim::min());
  EXPECT_EQ(ns(integer(Lim::max()), "ns"), Lim::max());
}

TEST(EpochTime, IntegersOutOfRange) {
  EXPECT_EQ(error(integer(9'300'000'000), "s"), "time 9300000000 is out of range");
  EXPECT_EQ(error(integer(Lim::min()), "us"), "time -9223372036854775808 is out of range");
}

TEST(EpochTime, NumbersKeepTheirFractionRoundedToNanoseconds) {
  EXPECT_EQ(ns(number(1.5), "s"), 1'500'000'000);
  EXPECT_EQ(ns(number(-1.5), "s"), -1'500'000'000);
  EXPECT_EQ(ns(number(1.5), "ms"), 1'500'000);
  EXPECT_EQ(ns(number(1.25), "us"), 1'250);
  EXPECT_EQ(ns(number(1714564800.25), "s"), 1714564800 * kSec + 250'000'000);
  // A double of today's seconds carries about 0.2 us; that much survives.
  int64_t t = ns(number(1714564800.123456), "s");
  EXPECT_NEAR(static_cast<double>(t - 1714564800 * kSec), 123'456'000.0, 300.0);
  EXPECT_EQ(ns(number(1714564800123.5), "ms"), 1714564800123'500'000);
  EXPECT_EQ(ns(number(1.7e18)), 1'700'000'000'000'000'000);
  EXPECT_EQ(ns(number(-0.0), "s"), 0);
}

TEST(EpochTime, NumbersOutOfRange) {
  EXPECT_EQ(error(number(1e30), "s"), "time 1e+30 is out of range");
  EXPECT_EQ(error(number(1e19)), "time 1e+19 is out of range");
  EXPECT_THAT(error(number(std::numeric_limits<double>::quiet_NaN()), "s"), HasSubstr("out of range"));
  EXPECT_THAT(error(number(std::numeric_limits<double>::infinity()), "ms"), HasSubstr("out of range"));
}

TEST(EpochTime, StringsOfDigits) {
  EXPECT_EQ(ns("1714564800", "s"), 1714564800 * kSec);
  EXPECT_EQ(ns("-1000", "ms"), -kSec);
  EXPECT_EQ(ns("1714564800123456789"), 1714564800123456789);
  EXPECT_EQ(ns("1714564800.5", "s"), 1714564800 * kSec + 500'000'000);
  EXPECT_EQ(error("99999999999999999999", "s"), "time 1e+20 is out of range");
  EXPECT_EQ(error("12ab", "s"), "time '12ab' is not an RFC 3339 time");
}

TEST(Rfc3339, UtcAndOffsets) {
  const int64_t t = 1714564800 * kSec;  // 2024-05-01T12:00:00Z
  EXPECT_EQ(ns("2024-05-01T12:00:00Z"), t);
  EXPECT_EQ(ns("2024-05-01t12:00:00z"), t);
  EXPECT_EQ(ns("2024-05-01 12:00:00Z"), t);
  EXPECT_EQ(ns("2024-05-01T14:00:00+02:00"), t);
  EXPECT_EQ(ns("2024-05-01T06:30:00-0530"), t);
  EXPECT_EQ(ns("2024-05-01T21:00:00+09"), t);
  EXPECT_EQ(ns("2024-05-01T00:00:00-12:00"), t);
  EXPECT_EQ(ns("2024-05-01T12:00:00Z", "rfc3339"), t);
}

TEST(Rfc3339, Fractions) {
  const int64_t t = 1714564800 * kSec;
  EXPECT_EQ(ns("2024-05-01T12:00:00.1Z"), t + 100'000'000);
  EXPECT_EQ(ns("2024-05-01T12:00:00.123Z"), t + 123'000'000);
  EXPECT_EQ(ns("2024-05-01T12:00:00.123456Z"), t + 123'456'000);
  EXPECT_EQ(ns("2024-05-01T12:00:00.123456789Z"), t + 123'456'789);
  EXPECT_EQ(ns("2024-05-01T12:00:00.1234567891Z"), t + 123'456'789);  // dropped past 9, as Go
  EXPECT_EQ(ns("2024-05-01T14:00:00.5+02:00"), t + 500'000'000);
  EXPECT_EQ(ns("2024-05-01T12:00:00.000000001Z"), t + 1);
}

TEST(Rfc3339, AcceptedWhateverTheFormatForText) {
  const int64_t t = 1714564800 * kSec;
  EXPECT_EQ(ns("2024-05-01T12:00:00Z", "ms"), t);
  EXPECT_EQ(ns("2024-05-01T12:00:00Z", "s"), t);
  EXPECT_EQ(ns("2024-05-01T12:00:00Z", "2006-01-02 15:04:05"), t);
}

TEST(Rfc3339, WithoutOffsetIsReadInTheZone) {
  EXPECT_EQ(ns("2024-05-01T12:00:00"), 1714564800 * kSec);
  EXPECT_EQ(ns("2024-05-01T21:00:00", "rfc3339", "Asia/Seoul"), 1714564800 * kSec);
  EXPECT_EQ(ns("2024-05-01T21:00:00", "rfc3339", "+09:00"), 1714564800 * kSec);
  // An offset in the text wins over the zone.
  EXPECT_EQ(ns("2024-05-01T12:00:00Z", "rfc3339", "Asia/Seoul"), 1714564800 * kSec);
}

TEST(Rfc3339, LeapYears) {
  EXPECT_EQ(ns("2000-02-29T00:00:00Z"), 951782400 * kSec);
  EXPECT_EQ(ns("2024-02-29T23:59:59Z"), 1709251199 * kSec);
  EXPECT_THAT(error("2023-02-29T00:00:00Z"), HasSubstr("is not a valid date and time"));
  EXPECT_THAT(error("1900-02-29T00:00:00Z"), HasSubstr("is not a valid date and time"));
  EXPECT_THAT(error("2100-02-29T00:00:00Z"), HasSubstr("is not a valid date and time"));
}

TEST(Rfc3339, Before1970) {
  EXPECT_EQ(ns("1969-12-31T23:59:59Z"), -kSec);
  EXPECT_EQ(ns("1969-12-31T23:59:59.5Z"), -kSec / 2);
  EXPECT_EQ(ns("1969-07-20T20:17:40Z"), -14182940 * kSec);
  EXPECT_EQ(ns("1900-01-01T00:00:00Z"), -2208988800 * kSec);
  EXPECT_EQ(ns("1960-06-15T08:00:00", "rfc3339", "Europe/Paris"), -301251600 * kSec);
}

TEST(Rfc3339, TheEndsOfInt64) {
  EXPECT_EQ(ns("1677-09-21T00:12:43.145224192Z"), Lim::min());
  EXPECT_EQ(ns("2262-04-11T23:47:16.854775807Z"), Lim::max());
  EXPECT_THAT(error("1677-09-21T00:12:43.145224191Z"), HasSubstr("out of range"));
  EXPECT_THAT(error("2262-04-11T23:47:16.854775808Z"), HasSubstr("out of range"));
  EXPECT_EQ(error("1600-01-01T00:00:00Z"), "time '1600-01-01T00:00:00Z' is out of range (years 1677 to 2262)");
  EXPECT_THAT(error("9999-12-31T23:59:59Z"), HasSubstr("out of range"));
  EXPECT_THAT(error("0000-01-01T00:00:00Z"), HasSubstr("out of range"));
}

TEST(Rfc3339, NotRfc3339) {
  EXPECT_EQ(error("abc"), "time 'abc' is not an RFC 3339 time");
  EXPECT_EQ(error(""), "time '' is not an RFC 3339 time");
  EXPECT_EQ(error("2024-05-01"), "time '2024-05-01' is not an RFC 3339 time");
  EXPECT_EQ(error("2024-05-01T12:00Z"), "time '2024-05-01T12:00Z' is not an RFC 3339 time");
  EXPECT_EQ(error("2024-05-01T12:00:00.Z"), "time '2024-05-01T12:00:00.Z' is not an RFC 3339 time");
  EXPECT_EQ(error("2024-05-01T12:00:00+2:00"), "time '2024-05-01T12:00:00+2:00' is not an RFC 3339 time");
  EXPECT_EQ(error("2024-05-01T12:00:00Z "), "time '2024-05-01T12:00:00Z ' is not an RFC 3339 time");
  EXPECT_EQ(error("2024-05-01T12:00:00+24:00"), "time '2024-05-01T12:00:00+24:00' is not an RFC 3339 time");
  EXPECT_THAT(error("2024-13-01T12:00:00Z"), HasSubstr("is not a valid date and time"));
  EXPECT_THAT(error("2024-04-31T12:00:00Z"), HasSubstr("is not a valid date and time"));
  EXPECT_THAT(error("2024-05-01T24:00:00Z"), HasSubstr("is not a valid date and time"));
  EXPECT_THAT(error("2024-05-01T12:60:00Z"), HasSubstr("is not a valid date and time"));
  EXPECT_THAT(error("2024-05-01T12:00:60Z"), HasSubstr("is not a valid date and time"));
}

TEST(GoLayout, ReferenceLayouts) {
  const int64_t t = 1714564800 * kSec;
  EXPECT_EQ(ns("2024-05-01 12:00:00", "2006-01-02 15:04:05"), t);
  EXPECT_EQ(ns("2024-05-01 12:00:00.25", "2006-01-02 15:04:05"), t + 250'000'000);  // as Go
  EXPECT_EQ(ns("2024-05-01 12:00:00.123456789", "2006-01-02 15:04:05.999999999"), t + 123'456'789);
  EXPECT_EQ(ns("2024-05-01 12:00:00", "2006-01-02 15:04:05.999999999"), t);
  EXPECT_EQ(ns("2024-05-01 12:00:00.120", "2006-01-02 15:04:05.000"), t + 120'000'000);
  EXPECT_EQ(ns("2024-05-01T12:00:00Z", "2006-01-02T15:04:05Z07:00"), t);
  EXPECT_EQ(ns("2024-05-01T21:00:00+09:00", "2006-01-02T15:04:05Z07:00"), t);
  EXPECT_EQ(ns("2024-05-01", "2006-01-02"), 1714521600 * kSec);
  EXPECT_EQ(ns("01/05/24 12:00", "02/01/06 15:04"), t);
  EXPECT_EQ(ns("Wed, 01 May 2024 12:00:00 +0000", "Mon, 02 Jan 2006 15:04:05 -0700"), t);
  EXPECT_EQ(ns("May  1 2024 12:00:00PM", "Jan _2 2006 03:04:05PM"), t);
  EXPECT_EQ(ns("may 1 2024 12:00:00 am UTC", "Jan 2 2006 3:04:05 pm MST"), t - 12 * 3600 * kSec);
  EXPECT_EQ(ns("1 May 2024 1:00 PM", "2 January 2006 3:04 PM"), t + 3600 * kSec);
  EXPECT_EQ(ns("2024-05-01 12:00:00,500", "2006-01-02 15:04:05,000"), t + 500'000'000);
  EXPECT_EQ(ns("2024-05-01 12:00:00.5", "2006-01-02 15:04:05.0"), t + 500'000'000);
}

TEST(GoLayout, InTimeZones) {
  const int64_t t = 1714564800 * kSec;  // 21:00 in Seoul
  EXPECT_EQ(ns("2024-05-01 21:00:00", "2006-01-02 15:04:05", "Asia/Seoul"), t);
  EXPECT_EQ(ns("2024-05-01 21:00:00", "2006-01-02 15:04:05", "+09:00"), t);
  EXPECT_EQ(ns("2024-05-01 21:00:00", "2006-01-02 15:04:05", "+0900"), t);
  EXPECT_EQ(ns("2024-05-01 06:30:00", "2006-01-02 15:04:05", "-05:30"), t);
  EXPECT_EQ(ns("2024-05-01 12:00:00", "2006-01-02 15:04:05", "UTC"), t);
  // Korea kept summer time (+10) in 1987 and 1988.
  EXPECT_EQ(ns("1988-07-01 12:00:00", "2006-01-02 15:04:05", "Asia/Seoul"), 583725600 * kSec);
  EXPECT_EQ(ns("1988-01-01 12:00:00", "2006-01-02 15:04:05", "Asia/Seoul"), 568004400 * kSec);
}

TEST(GoLayout, Mismatch) {
  EXPECT_EQ(error("2024/05/01", "2006-01-02"), "time '2024/05/01' does not match layout '2006-01-02'");
  EXPECT_EQ(error("2024-05-01 12:00", "2006-01-02"), "time '2024-05-01 12:00' does not match layout '2006-01-02'");
  EXPECT_EQ(error("01/05/2024 12:00:00.12", "02/01/2006 15:04:05.000"),
            "time '01/05/2024 12:00:00.12' does not match layout '02/01/2006 15:04:05.000'");
  EXPECT_THAT(error("2024-02-30", "2006-01-02"), HasSubstr("is not a valid date and time"));
  EXPECT_THAT(error("13:00:00", "15:04:05"), HasSubstr("out of range"));  // year 0, as Go reads it
  EXPECT_EQ(error("2024-05-01", "yyyy-mm-dd"), "unknown time format 'yyyy-mm-dd'");
}

TEST(TimeZones, SummerTimeBeforeAndAfterTheLastListedTransition) {
  EXPECT_EQ(ns("2024-07-01T12:00:00", "rfc3339", "America/New_York"), 1719849600 * kSec);
  EXPECT_EQ(ns("2024-01-01T12:00:00", "rfc3339", "America/New_York"), 1704128400 * kSec);
  // Past 2037 the file's rule (EST5EDT,M3.2.0,M11.1.0) decides.
  EXPECT_EQ(ns("2040-07-01T12:00:00", "rfc3339", "America/New_York"), 2224771200 * kSec);
  EXPECT_EQ(ns("2040-01-01T12:00:00", "rfc3339", "America/New_York"), 2209050000 * kSec);
  // The southern hemisphere's summer spans the new year.
  EXPECT_EQ(ns("2040-01-15T12:00:00", "rfc3339", "Australia/Sydney"), 2210202000 * kSec);
  EXPECT_EQ(ns("2040-07-15T12:00:00", "rfc3339", "Australia/Sydney"), 2225930400 * kSec);
}

TEST(TimeZones, SkippedAndRepeatedWallTimesReadAsGoReadsThem) {
  // 02:30 did not happen in New York on 2024-03-10: Go gives 01:30 EST, 06:30Z.
  EXPECT_EQ(ns("2024-03-10T02:30:00", "rfc3339", "America/New_York"), 1710052200 * kSec);
  // 01:30 happened twice on 2024-11-03: the first, EDT.
  EXPECT_EQ(ns("2024-11-03T01:30:00", "rfc3339", "America/New_York"), 1730611800 * kSec);
}

TEST(TimeZones, Local) {
  const char* saved = std::getenv("TZ");
  std::string old = saved ? saved : "";
  setenv("TZ", "Asia/Seoul", 1);
  tzset();
  EXPECT_EQ(ns("2024-05-01 21:00:00", "2006-01-02 15:04:05", "Local"), 1714564800 * kSec);
  EXPECT_EQ(ns("1988-07-01T12:00:00", "rfc3339", "Local"), 583725600 * kSec);
  setenv("TZ", "America/New_York", 1);
  tzset();
  EXPECT_EQ(ns("2024-07-01T12:00:00", "rfc3339", "Local"), 1719849600 * kSec);
  if (saved) {
    setenv("TZ", old.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  tzset();
}

TEST(TimeZones, UnknownAndUnsafeNames) {
  EXPECT_EQ(error("2024-05-01 12:00:00", "2006-01-02 15:04:05", "Mars/Olympus"), "unknown time zone 'Mars/Olympus'");
  EXPECT_EQ(error("2024-05-01 12:00:00", "2006-01-02 15:04:05", "../../etc/passwd"),
            "unknown time zone '../../etc/passwd'");
  EXPECT_EQ(error("2024-05-01 12:00:00", "2006-01-02 15:04:05", "/etc/passwd"), "unknown time zone '/etc/passwd'");
  EXPECT_EQ(error("2024-05-01 12:00:00", "2006-01-02 15:04:05", "Asia"), "unknown time zone 'Asia'");  // a directory
  EXPECT_EQ(error("2024-05-01 12:00:00", "2006-01-02 15:04:05", "+25:00"), "unknown time zone '+25:00'");
  EXPECT_EQ(error("2024-05-01 12:00:00", "2006-01-02 15:04:05", "+09:"), "unknown time zone '+09:'");
  // Asked again: the negative answer is cached, the error the same.
  EXPECT_EQ(error("2024-05-01 12:00:00", "2006-01-02 15:04:05", "Mars/Olympus"), "unknown time zone 'Mars/Olympus'");
  // A text with its own offset needs no zone.
  EXPECT_EQ(ns("2024-05-01T12:00:00Z", "rfc3339", "Mars/Olympus"), 1714564800 * kSec);
}

TEST(TimeZones, ManyThreadsShareTheCache) {
  std::vector<std::thread> threads;
  std::vector<int> failures(8, 0);
  static const char* kZones[] = {"Asia/Seoul", "Europe/Paris", "America/New_York", "Australia/Sydney"};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([t, &failures] {
      for (int i = 0; i < 200; ++i) {
        const char* zone = kZones[(t + i) % 4];
        int64_t v = 0;
        std::string e;
        if (!parse_time(text("2024-05-01 12:00:00"), "2006-01-02 15:04:05", zone, &v, &e)) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

TEST(TimeCells, KindsThatAreNotTimes) {
  Cell null;
  EXPECT_EQ(error(null), "time is null");
  Cell b;
  b.kind = Cell::Kind::boolean;
  b.i = 1;
  EXPECT_EQ(error(b), "time true is not a time");
  Cell j;
  j.kind = Cell::Kind::json;
  j.s = "[1]";
  EXPECT_EQ(error(j), "time '[1]' is JSON, not a time");
  EXPECT_EQ(error(integer(5), "rfc3339"), "time 5 is a number, not text in format 'rfc3339'");
  EXPECT_EQ(error(number(5.5), "2006-01-02"), "time 5.5 is a number, not text in format '2006-01-02'");
}

TEST(TimeCells, ErrorMayBeNull) {
  int64_t v = 0;
  EXPECT_FALSE(parse_time(text("abc"), "", "", &v, nullptr));
  EXPECT_TRUE(parse_time(integer(5), "s", "", &v, nullptr));
  EXPECT_EQ(v, 5 * kSec);
}


// ---- format_time, utc_offset, utc_from_local ---------------------------------------------

// What format_time writes for what must format.
std::string shown(int64_t t, std::string_view format, std::string_view tz = "UTC") {
  std::string out = "<";  // appends: what was there stays
  std::string e;
  EXPECT_TRUE(format_time(t, format, tz, &out, &e)) << e;
  EXPECT_EQ(out.substr(0, 1), "<");
  return out.substr(1);
}

constexpr int64_t kNov14 = 1'700'000'000 * kSec;  // 2023-11-14T22:13:20Z, a Tuesday

TEST(FormatTime, EpochUnitsRoundDown) {
  EXPECT_EQ(shown(kNov14 + 123'456'789, "ns"), "1700000000123456789");
  EXPECT_EQ(shown(kNov14 + 123'456'789, ""), "1700000000123456789");
  EXPECT_EQ(shown(kNov14 + 123'456'789, "us"), "1700000000123456");
  EXPECT_EQ(shown(kNov14 + 123'456'789, "ms"), "1700000000123");
  EXPECT_EQ(shown(kNov14 + 123'456'789, "s"), "1700000000");
  EXPECT_EQ(shown(-1, "ms"), "-1");
  EXPECT_EQ(shown(-1, "s"), "-1");
  EXPECT_EQ(shown(Lim::min(), "ns"), "-9223372036854775808");
}

TEST(FormatTime, Rfc3339ShowsAFractionOnlyWhenThereIsOne) {
  EXPECT_EQ(shown(kNov14, "rfc3339"), "2023-11-14T22:13:20Z");
  EXPECT_EQ(shown(kNov14, "RFC3339"), "2023-11-14T22:13:20Z");
  EXPECT_EQ(shown(kNov14 + 500'000'000, "rfc3339"), "2023-11-14T22:13:20.5Z");
  EXPECT_EQ(shown(kNov14 + 1, "rfc3339"), "2023-11-14T22:13:20.000000001Z");
  EXPECT_EQ(shown(kNov14, "rfc3339", "+09:00"), "2023-11-15T07:13:20+09:00");
  EXPECT_EQ(shown(kNov14, "rfc3339", "-0530"), "2023-11-14T16:43:20-05:30");
}

TEST(FormatTime, GoLayoutElements) {
  const int64_t t = kNov14 + 123'456'789;
  EXPECT_EQ(shown(t, "2006-01-02 15:04:05"), "2023-11-14 22:13:20");
  EXPECT_EQ(shown(t, "2006-01-02 15:04:05.999"), "2023-11-14 22:13:20.123");
  EXPECT_EQ(shown(t, "2006-01-02 15:04:05.000000"), "2023-11-14 22:13:20.123456");
  EXPECT_EQ(shown(t, "15:04:05,000"), "22:13:20,123");
  EXPECT_EQ(shown(kNov14, "15:04:05.999"), "22:13:20");   // .999: nothing when zero
  EXPECT_EQ(shown(kNov14, "15:04:05.000"), "22:13:20.000");
  EXPECT_EQ(shown(kNov14 + 100'000'000, "05.999999"), "20.1");
  EXPECT_EQ(shown(t, "Mon Jan _2 15:04:05 MST 2006"), "Tue Nov 14 22:13:20 UTC 2023");
  EXPECT_EQ(shown(t, "Monday, 02-Jan-06"), "Tuesday, 14-Nov-23");
  EXPECT_EQ(shown(t, "January 2, 2006"), "November 14, 2023");
  EXPECT_EQ(shown(t, "1/2/06 3:04:05PM"), "11/14/23 10:13:20PM");
  EXPECT_EQ(shown(t, "03:04 pm"), "10:13 pm");
  EXPECT_EQ(shown(0, "3:04PM _2 Jan"), "12:00AM  1 Jan");
  EXPECT_EQ(shown(12 * 3600 * kSec, "3PM"), "12PM");
  EXPECT_EQ(shown(t, "2006-01-02T15:04:05Z07:00"), "2023-11-14T22:13:20Z");
  EXPECT_EQ(shown(t, "-07:00 -0700 -07 Z0700", "+05:30"), "+05:30 +0530 +05 +0530");
  EXPECT_EQ(shown(t, "MST", "+09:00"), "+0900");  // no abbreviations: the offset
  EXPECT_EQ(shown(t, "at 15h"), "at 22h");         // text around elements stays
}

TEST(FormatTime, BeforeTheEpochAndAtTheEnds) {
  EXPECT_EQ(shown(-1, "2006-01-02 15:04:05.999999999"), "1969-12-31 23:59:59.999999999");
  EXPECT_EQ(shown(int64_t{-100} * 365 * 86'400 * kSec, "2006-01-02 Mon"), "1870-01-25 Tue");
  EXPECT_EQ(shown(Lim::min(), "rfc3339"), "1677-09-21T00:12:43.145224192Z");
  EXPECT_EQ(shown(Lim::max(), "rfc3339"), "2262-04-11T23:47:16.854775807Z");
  EXPECT_EQ(shown(951782400 * kSec, "2006-01-02"), "2000-02-29");  // leap day
}

TEST(FormatTime, IanaZonesAcrossSummerTime) {
  const char* layout = "2006-01-02 15:04:05 -07:00";
  EXPECT_EQ(shown(kNov14, layout, "Asia/Seoul"), "2023-11-15 07:13:20 +09:00");
  // New York springs forward at 2024-03-10 07:00Z and falls back at 2024-11-03 06:00Z.
  EXPECT_EQ(shown(1710053999 * kSec, layout, "America/New_York"), "2024-03-10 01:59:59 -05:00");
  EXPECT_EQ(shown(1710054000 * kSec, layout, "America/New_York"), "2024-03-10 03:00:00 -04:00");
  EXPECT_EQ(shown(1730613599 * kSec, layout, "America/New_York"), "2024-11-03 01:59:59 -04:00");
  EXPECT_EQ(shown(1730613600 * kSec, layout, "America/New_York"), "2024-11-03 01:00:00 -05:00");
  // Past the file's last transition the POSIX rule carries on.
  EXPECT_EQ(shown(4118126400 * kSec, layout, "America/New_York"), "2100-07-01 08:00:00 -04:00");
}

TEST(FormatTime, RoundTripsThroughParseTime) {
  // Local mean time had offsets in seconds (Seoul's +08:27:52, until 1908), which only a layout
  // with seconds in its offset keeps; RFC 3339 is checked from 1913 on.
  const char* layout = "2006-01-02 15:04:05.999999999 -07:00:00";
  for (const char* zone : {"UTC", "Asia/Seoul", "America/New_York", "Australia/Sydney", "+05:45"}) {
    for (int64_t t = -3'000'000'000 * kSec; t < 7'000'000'000 * kSec; t += 86'413 * kSec * 97 + 123'457) {
      std::string text = shown(t, layout, zone);
      EXPECT_EQ(ns(text, layout, zone), t) << text << " in " << zone;
      if (t > -1'800'000'000 * kSec) {
        EXPECT_EQ(ns(shown(t, "rfc3339", zone)), t) << zone;
      }
    }
  }
  EXPECT_EQ(shown(-3'000'000'000 * kSec, layout, "Asia/Seoul"), "1874-12-08 03:07:52 +08:27:52");
}

TEST(FormatTime, Errors) {
  std::string out = "kept";
  std::string e;
  EXPECT_FALSE(format_time(0, "rfc3339", "Mars/Olympus", &out, &e));
  EXPECT_EQ(e, "unknown time zone 'Mars/Olympus'");
  EXPECT_FALSE(format_time(0, "iso", "UTC", &out, &e));
  EXPECT_EQ(e, "unknown time format 'iso'");
  EXPECT_FALSE(format_time(0, "2006", "+25:00", &out, nullptr));
  EXPECT_EQ(out, "kept");
}

TEST(UtcOffset, FixedIanaAndUtc) {
  int64_t off = -1;
  EXPECT_TRUE(utc_offset("UTC", kNov14, &off, nullptr));
  EXPECT_EQ(off, 0);
  EXPECT_TRUE(utc_offset("", kNov14, &off, nullptr));
  EXPECT_EQ(off, 0);
  EXPECT_TRUE(utc_offset("+09:00", kNov14, &off, nullptr));
  EXPECT_EQ(off, 9 * 3600 * kSec);
  EXPECT_TRUE(utc_offset("-0330", kNov14, &off, nullptr));
  EXPECT_EQ(off, -(3 * 3600 + 1800) * kSec);
  EXPECT_TRUE(utc_offset("Asia/Seoul", kNov14, &off, nullptr));
  EXPECT_EQ(off, 9 * 3600 * kSec);
  EXPECT_TRUE(utc_offset("America/New_York", 1710053999 * kSec, &off, nullptr));
  EXPECT_EQ(off, -5 * 3600 * kSec);
  EXPECT_TRUE(utc_offset("America/New_York", 1710054000 * kSec, &off, nullptr));
  EXPECT_EQ(off, -4 * 3600 * kSec);
  // The second before a change, counted from a negative nanosecond, is still before it.
  EXPECT_TRUE(utc_offset("America/New_York", 1710054000 * kSec - 1, &off, nullptr));
  EXPECT_EQ(off, -5 * 3600 * kSec);
  EXPECT_TRUE(utc_offset("Local", kNov14, &off, nullptr));
  std::string e;
  EXPECT_FALSE(utc_offset("Nowhere/Town", 0, &off, &e));
  EXPECT_EQ(e, "unknown time zone 'Nowhere/Town'");
}

TEST(UtcFromLocal, InvertsTheWallClock) {
  int64_t utc = 0;
  // 2023-11-15 07:13:20 in Seoul is kNov14.
  int64_t local = kNov14 + 9 * 3600 * kSec;
  EXPECT_TRUE(utc_from_local("Asia/Seoul", local + 5, &utc, nullptr));
  EXPECT_EQ(utc, kNov14 + 5);
  EXPECT_TRUE(utc_from_local("UTC", local, &utc, nullptr));
  EXPECT_EQ(utc, local);
  // Midnight of 2024-03-10 and of 2024-11-03 in New York: still EST (-5) and EDT (-4).
  EXPECT_TRUE(utc_from_local("America/New_York", 1710028800 * kSec, &utc, nullptr));
  EXPECT_EQ(utc, (1710028800 + 5 * 3600) * kSec);
  EXPECT_TRUE(utc_from_local("America/New_York", 1730592000 * kSec, &utc, nullptr));
  EXPECT_EQ(utc, (1730592000 + 4 * 3600) * kSec);
  // 02:30 on 2024-03-10 does not exist there: one of its readings.
  EXPECT_TRUE(utc_from_local("America/New_York", (1710028800 + 9000) * kSec, &utc, nullptr));
  EXPECT_TRUE(utc == (1710028800 + 9000 + 5 * 3600) * kSec || utc == (1710028800 + 9000 + 4 * 3600) * kSec);
  std::string e;
  EXPECT_FALSE(utc_from_local("Nowhere/Town", 0, &utc, &e));
  EXPECT_EQ(e, "unknown time zone 'Nowhere/Town'");
  EXPECT_FALSE(utc_from_local("-12:00", Lim::max(), &utc, &e));
  EXPECT_THAT(e, HasSubstr("out of range"));
}

}  // namespace
}  // namespace mqbase::ingest
