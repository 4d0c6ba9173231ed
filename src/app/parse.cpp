#include <sstream>

#include "app/commands.h"
#include "pipeline/text_to_video.h"

namespace kinema::app {

std::pair<int, int> parse_size(const std::string& text) {
  int w = 0, h = 0;
  char x = 0, extra = 0;
  std::istringstream in(text);
  if (!(in >> w >> x >> h) || (x != 'x' && x != 'X') || (in >> extra))
    fail("--size '", text, "': expected WIDTHxHEIGHT, for example 832x480");
  check_video_size(w, h);
  return {w, h};
}

}  // namespace kinema::app
