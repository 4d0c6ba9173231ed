#include "app/progress.h"

#include <sys/resource.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace kinema::app {

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;
}

Progress::Progress(ProgressStyle style, std::FILE* out)
    : Progress(style, out, isatty(fileno(out)) == 1) {}

Progress::Progress(ProgressStyle style, std::FILE* out, bool terminal)
    : style_(style), out_(out), start_(Clock::now()), phase_start_(start_), terminal_(terminal) {}

namespace {

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

std::string clock_text(double s) {
  int total = int(s + 0.5);
  char buf[32];
  if (total >= 3600)
    std::snprintf(buf, sizeof buf, "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60);
  else
    std::snprintf(buf, sizeof buf, "%d:%02d", total / 60, total % 60);
  return buf;
}

// One JSON object per line; text that is not valid UTF-8 (a prompt, a file name) is replaced
// rather than making the dump throw.
void print_json(std::FILE* out, const nlohmann::json& j) {
  std::fprintf(out, "%s\n",
               j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

}  // namespace

void Progress::end_line() {
  if (line_open_) std::fputc('\n', out_);
  line_open_ = false;
}

void Progress::phase(std::string_view name, int total) {
  phase_ = std::string(name);
  phase_start_ = Clock::now();
  last_tenth_ = -1;
  if (style_ == ProgressStyle::Json) {
    nlohmann::json j = {{"event", "phase"},
                        {"phase", phase_},
                        {"total", total},
                        {"elapsed_s", seconds(phase_start_ - start_)}};
    print_json(out_, j);
  } else if (style_ == ProgressStyle::Bar && terminal_) {
    end_line();
    std::fprintf(out_, "%-12s", phase_.c_str());
    line_open_ = true;
  } else if (style_ == ProgressStyle::Bar && total == 0) {
    std::fprintf(out_, "%s\n", phase_.c_str());  // a phase without steps: its name alone
  }
  std::fflush(out_);
}

void Progress::step(int done, int total) {
  const double elapsed = seconds(Clock::now() - phase_start_);
  const double per_step = done > 0 ? elapsed / done : 0.0;
  const double eta = per_step * (total - done);
  if (style_ == ProgressStyle::Json) {
    nlohmann::json j = {{"event", "step"}, {"phase", phase_},        {"step", done},
                        {"total", total},  {"s_per_step", per_step}, {"eta_s", eta}};
    print_json(out_, j);
  } else if (style_ == ProgressStyle::Bar && total > 0) {
    constexpr int kWidth = 30;
    std::string bar(size_t(done * kWidth / total), '#');
    bar.resize(kWidth, '.');
    char line[256];
    std::snprintf(line, sizeof line, "%-12s [%s] %d/%d  %.2f s/step  ETA %s", phase_.c_str(),
                  bar.c_str(), done, total, per_step, clock_text(eta).c_str());
    const int tenth = done * 10 / total;
    if (terminal_) {
      std::fprintf(out_, "\r%s ", line);  // redrawn in place
      line_open_ = true;
    } else if (tenth > last_tenth_) {  // the last step is tenth 10, always printed
      std::fprintf(out_, "%s\n", line);
      last_tenth_ = tenth;
    }
  }
  std::fflush(out_);
}

void Progress::note(std::string_view key, std::string_view value) {
  if (style_ == ProgressStyle::Json) {
    nlohmann::json j = {
        {"event", "note"}, {"key", std::string(key)}, {"value", std::string(value)}};
    print_json(out_, j);
  } else if (style_ == ProgressStyle::Bar) {
    end_line();
    std::fprintf(out_, "%.*s: %.*s\n", int(key.size()), key.data(), int(value.size()),
                 value.data());
  }
  std::fflush(out_);
}

void Progress::error(std::string_view message) {
  if (style_ == ProgressStyle::Json)
    print_json(out_, {{"event", "error"}, {"message", std::string(message)}});
  else
    end_line();
  std::fflush(out_);
}

void Progress::finish(std::string_view output) {
  const double total = seconds(Clock::now() - start_);
  if (style_ == ProgressStyle::Json) {
    nlohmann::json j = {{"event", "done"},
                        {"output", std::string(output)},
                        {"total_s", total},
                        {"peak_rss_mib", peak_rss_mib()}};
    print_json(out_, j);
  } else if (style_ == ProgressStyle::Bar) {
    end_line();
    std::fprintf(out_, "wrote %.*s in %s (peak memory %.0f MiB)\n", int(output.size()),
                 output.data(), clock_text(total).c_str(), peak_rss_mib());
  }
  std::fflush(out_);
}

}  // namespace kinema::app
