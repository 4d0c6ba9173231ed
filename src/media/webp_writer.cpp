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

class WebPEncoder : public FrameEncoder {
 public:
  WebPEncoder(const std::string& path, const StreamFormat& f, const MediaMetadata& metadata)
      : path_(path), f_(f), metadata_(metadata) {
    WebPAnimEncoderOptions anim_options;
    if (!WebPAnimEncoderOptionsInit(&anim_options)) fail("libwebp version mismatch");
    anim_options.anim_params.loop_count = 0;  // forever
    encoder_.reset(WebPAnimEncoderNew(f.width, f.height, &anim_options));
    if (!encoder_) fail("cannot create the WebP animation encoder");
    if (!WebPConfigInit(&config_)) fail("libwebp version mismatch");
    config_.quality = 90;
    config_.method = 4;
  }

  void add(const uint8_t* rgb) override {
    WebPPicture picture;
    if (!WebPPictureInit(&picture)) fail("libwebp version mismatch");
    picture.width = f_.width;
    picture.height = f_.height;
    picture.use_argb = 1;  // the animation encoder works on ARGB
    const bool imported = WebPPictureImportRGB(&picture, rgb, f_.width * 3);
    const bool added =
        imported && WebPAnimEncoderAdd(encoder_.get(), &picture, timestamp(added_), &config_);
    WebPPictureFree(&picture);
    if (!added)
      fail("WebP encoding of frame ", added_, " failed: ", WebPAnimEncoderGetError(encoder_.get()));
    ++added_;
  }

  void finish() override {
    if (!WebPAnimEncoderAdd(encoder_.get(), nullptr, timestamp(added_), nullptr))
      fail("WebP encoding failed: ", WebPAnimEncoderGetError(encoder_.get()));
    WebPDataOwner animation;
    if (!WebPAnimEncoderAssemble(encoder_.get(), &animation.data))
      fail("WebP assembly failed: ", WebPAnimEncoderGetError(encoder_.get()));

    WebPDataOwner output;
    const WebPData* result = &animation.data;
    if (!metadata_.empty()) {
      std::unique_ptr<WebPMux, MuxDeleter> mux(WebPMuxCreate(&animation.data, 1));
      if (!mux) fail("cannot reopen the WebP animation to add metadata");
      const std::string xmp = xmp_packet(metadata_);
      WebPData chunk{reinterpret_cast<const uint8_t*>(xmp.data()), xmp.size()};
      if (WebPMuxSetChunk(mux.get(), "XMP ", &chunk, 1) != WEBP_MUX_OK ||
          WebPMuxAssemble(mux.get(), &output.data) != WEBP_MUX_OK)
        fail("cannot add the XMP metadata chunk");
      result = &output.data;
    }
    FILE* file = std::fopen(path_.c_str(), "wb");
    if (!file) fail(errno_text("cannot open for writing"));
    const bool written = std::fwrite(result->bytes, 1, result->size, file) == result->size;
    const std::string write_error = written ? "" : errno_text("write error");
    // fclose flushes: its failure (a full disk) is a failed write too.
    if (std::fclose(file) != 0 && written) fail(errno_text("write error on close"));
    if (!written) fail(write_error);
  }

 private:
  // Timestamps in ms, rounded per frame from the exact frame time so the total does not drift.
  int timestamp(int i) const { return static_cast<int>((1000LL * i + f_.fps / 2) / f_.fps); }

  std::string path_;
  StreamFormat f_;
  MediaMetadata metadata_;
  std::unique_ptr<WebPAnimEncoder, AnimEncoderDeleter> encoder_;
  WebPConfig config_;
  int added_ = 0;
};

}  // namespace

std::unique_ptr<FrameEncoder> open_webp(const std::string& path, const StreamFormat& format,
                                        const MediaMetadata& metadata) {
  return std::make_unique<WebPEncoder>(path, format, metadata);
}

}  // namespace kinema::media
