// The progress display of the CLI: redrawn in place on a terminal, whole lines elsewhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "app/progress.h"

namespace kinema::app {
namespace {

// What a Progress wrote while `use` ran, with `terminal` as its idea of the stream.
template <typename Use>
std::string written(bool terminal, Use use) {
  std::FILE* f = std::tmpfile();
  EXPECT_NE(f, nullptr);
  {
    Progress p(ProgressStyle::Bar, f, terminal);
    use(p);
  }
  std::string text(size_t(std::ftell(f)), '\0');
  std::rewind(f);
  EXPECT_EQ(std::fread(text.data(), 1, text.size(), f), text.size());
  std::fclose(f);
  return text;
}

void denoise(Progress& p, int steps) {
  p.phase("denoise", steps);
  for (int i = 1; i <= steps; ++i) p.step(i, steps);
}

TEST(Progress, OnATerminalTheBarIsRedrawnInPlace) {
  std::string text = written(true, [](Progress& p) { denoise(p, 20); });
  EXPECT_EQ(std::count(text.begin(), text.end(), '\r'), 20) << text;
  EXPECT_NE(text.find("\rdenoise      [##############################] 20/20"), std::string::npos)
      << text;
  EXPECT_EQ(text.back(), '\n') << "the open bar is closed at the end";
}

TEST(Progress, ElsewhereEachTenthOfThePhaseIsOneLine) {
  std::string text = written(false, [](Progress& p) { denoise(p, 50); });
  EXPECT_EQ(text.find('\r'), std::string::npos) << text;
  // Steps 5, 10, ..., 50: a line at each tenth (the first step starts tenth 0).
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 11) << text;
  EXPECT_NE(text.find("denoise      [##############################] 50/50"), std::string::npos)
      << text;
}

TEST(Progress, ElsewhereAPhaseWithoutStepsIsItsName) {
  std::string text = written(false, [](Progress& p) { p.phase("load", 0); });
  EXPECT_EQ(text, "load\n");
}

}  // namespace
}  // namespace kinema::app
