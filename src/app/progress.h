// Progress on stderr for the CLI: the phase, a bar with step i/N, seconds per step and ETA, and at
// the end total time and peak memory. Also a machine-readable form (one JSON object per line)
// and a quiet one. On a terminal the bar is redrawn in place; elsewhere (a log file, a pipe) each
// phase prints whole lines: one at every tenth of its steps, and one at the end.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

namespace kinema::app {

enum class ProgressStyle { Bar, Json, Quiet };

// Peak resident memory of this process so far, in MiB.
double peak_rss_mib();

class Progress {
 public:
  // `terminal`: whether `out` redraws lines in place (default: isatty on it).
  Progress(ProgressStyle style, std::FILE* out);
  Progress(ProgressStyle style, std::FILE* out, bool terminal);
  ~Progress() { end_line(); }  // an error message after an open bar starts on its own line

  // A phase starts: "load", "encode text", "denoise", "decode", "write".
  void phase(std::string_view name, int total = 0);
  // `done` of the phase's `total` units are complete.
  void step(int done, int total);
  // A one-line message (the seed, the output path...).
  void note(std::string_view key, std::string_view value);
  // A failure: a JSON "error" event (the CLI prints its one-line message to stderr as well).
  void error(std::string_view message);
  // The end: total time and peak memory.
  void finish(std::string_view output);

 private:
  using Clock = std::chrono::steady_clock;
  void end_line();

  ProgressStyle style_;
  std::FILE* out_;
  std::string phase_;
  Clock::time_point start_, phase_start_;
  bool terminal_;
  bool line_open_ = false;
  int last_tenth_ = -1;  // off a terminal: the last tenth of the phase's steps printed
};

}  // namespace kinema::app
