// Animated WebP through libwebp's WebPAnimEncoder (lossy, quality 90, looping forever), with the
// metadata as an XMP chunk added by WebPMux.
#include <webp/encode.h>
#include <webp/mux.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "media/writers.h"

namespace kinema::media {
namespace {

struct AnimEncoderDeleter {
  void operator()(WebPAnimEncoder* e) const { WebPAnimEncoderDelete(e); }
};
struct MuxDeleter {
  void operator()(WebPMux* m) const { WebPMuxDelete(m); }
};
struct WebPDataOwner {
  WebPData data;
  WebPDataOwner() { WebPDataInit(&data); }
  ~WebPDataOwner() { WebPDataClear(&data); }
};

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char ch : text) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += ch;
    }
  }
  return out;
}

// XML element names allow letters, digits, '_', '-', '.'; anything else becomes '_'.
std::string xml_name(const std::string& key) {
  std::string out = key.empty() ? "_" : key;
  for (char& ch : out)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-' && ch != '.')
      ch = '_';
  if (!std::isalpha(static_cast<unsigned char>(out[0])) && out[0] != '_') out = "_" + out;
  return out;
}

// The metadata as one XMP packet, each key a kinema:<key> property of one rdf:Description.
std::string xmp_packet(const MediaMetadata& metadata) {
  std::string xmp =
      "<?xpacket begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n"
      "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n"
      " <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n"
      "  <rdf:Description rdf:about=\"\" xmlns:kinema=\"https://kinema.invalid/ns/1.0/\">\n";
  for (const auto& [key, value] : metadata) {
    const std::string name = "kinema:" + xml_name(key);
    xmp += "   <" + name + ">" + xml_escape(value) + "</" + name + ">\n";
  }
  xmp += "  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"w\"?>";
  return xmp;
}

}  // namespace

void write_webp(const std::string& path, const RgbFrames& frames, int fps,
                const MediaMetadata& metadata) {
  WebPAnimEncoderOptions anim_options;
  if (!WebPAnimEncoderOptionsInit(&anim_options)) fail("libwebp version mismatch");
  anim_options.anim_params.loop_count = 0;  // forever
  std::unique_ptr<WebPAnimEncoder, AnimEncoderDeleter> encoder(
      WebPAnimEncoderNew(frames.width, frames.height, &anim_options));
  if (!encoder) fail("cannot create the WebP animation encoder");

  WebPConfig config;
  if (!WebPConfigInit(&config)) fail("libwebp version mismatch");
  config.quality = 90;
  config.method = 4;

  // Timestamps in ms, rounded per frame from the exact frame time so the total does not drift.
  auto timestamp = [fps](int i) { return static_cast<int>((1000LL * i + fps / 2) / fps); };
  const size_t frame_bytes = static_cast<size_t>(frames.width) * frames.height * 3;
  for (int i = 0; i < frames.count; ++i) {
    WebPPicture picture;
    if (!WebPPictureInit(&picture)) fail("libwebp version mismatch");
    picture.width = frames.width;
    picture.height = frames.height;
    picture.use_argb = 1;  // the animation encoder works on ARGB
    const bool imported =
        WebPPictureImportRGB(&picture, frames.rgb.data() + i * frame_bytes, frames.width * 3);
    const bool added =
        imported && WebPAnimEncoderAdd(encoder.get(), &picture, timestamp(i), &config);
    WebPPictureFree(&picture);
    if (!added)
      fail("WebP encoding of frame ", i, " failed: ", WebPAnimEncoderGetError(encoder.get()));
  }
  if (!WebPAnimEncoderAdd(encoder.get(), nullptr, timestamp(frames.count), nullptr))
    fail("WebP encoding failed: ", WebPAnimEncoderGetError(encoder.get()));

  WebPDataOwner animation;
  if (!WebPAnimEncoderAssemble(encoder.get(), &animation.data))
    fail("WebP assembly failed: ", WebPAnimEncoderGetError(encoder.get()));

  WebPDataOwner output;
  const WebPData* result = &animation.data;
  if (!metadata.empty()) {
    std::unique_ptr<WebPMux, MuxDeleter> mux(WebPMuxCreate(&animation.data, 1));
    if (!mux) fail("cannot reopen the WebP animation to add metadata");
    const std::string xmp = xmp_packet(metadata);
    WebPData chunk{reinterpret_cast<const uint8_t*>(xmp.data()), xmp.size()};
    if (WebPMuxSetChunk(mux.get(), "XMP ", &chunk, 1) != WEBP_MUX_OK ||
        WebPMuxAssemble(mux.get(), &output.data) != WEBP_MUX_OK)
      fail("cannot add the XMP metadata chunk");
    result = &output.data;
  }

  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "wb"), std::fclose);
  if (!file) fail("cannot open for writing: ", std::strerror(errno));
  if (std::fwrite(result->bytes, 1, result->size, file.get()) != result->size ||
      std::fflush(file.get()) != 0)
    fail("write error: ", std::strerror(errno));
}

}  // namespace kinema::media
