// Runner: one `mqbase bench` run, from options to Report. It makes the Plan, resolves the
// broker address, starts --threads Workers (event loops), and moves them through the phases:
// connect everything; publish for --warmup + --duration (with --storm: --duration undisturbed,
// then --duration under the storm); drain what is still in flight; disconnect. Meanwhile it
// prints a progress line per second (unless --json or --quiet) and samples CPU time of this
// process and of --broker-pid over the measured window (and over each half with a storm).
//
// Use from one thread. SIGINT/SIGTERM end the run early, with a report of what was measured.
#pragma once
#include "bench/bench_options.h"
#include "bench/report.h"

namespace mqbase::bench {

class Runner {
 public:
  explicit Runner(BenchOptions options) : options_(std::move(options)) {}

  // Runs to completion. Problems reaching the broker are reported in Report::error (and
  // connect_failures); options that make no sense throw PlanError.
  Report run();

 private:
  BenchOptions options_;
};

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
unsigned long raise_open_file_limit();

}  // namespace mqbase::bench
