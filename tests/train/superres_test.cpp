// The super-resolution task (docs/superres.md): PSNR and SSIM against hand-computed values, MATLAB
// bicubic resizing against an exact rational reference (tests/train/data/bicubic_reference.py),
// PNG decoding against an independent encoder (tests/train/data/tiny_png.py), loader errors on
// missing, truncated and undecodable files, the data pipeline's crops and patches, the task's
// config keys, and short end-to-end runs (loss falls, run folder, bit-identical resume).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>

#include "rngfree/error.hpp"
#include "rngfree/train/image.hpp"
#include "rngfree/train/superres.hpp"
#include "rngfree/train/trainer.hpp"
#include "support/errors.hpp"
#include "support/files.hpp"

namespace fs = std::filesystem;
using namespace rngfree;
using namespace rngfree::train;
using rngfree::testing::error_of;
using rngfree::testing::fresh_test_dir;
using rngfree::testing::read_file;

namespace {

// 3x2 RGB: red, green, blue / (10,20,30), (200,100,50), (128,128,128); tests/train/data/tiny_png.py
const std::vector<uint8_t> kTinyPng = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
    0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0x12, 0x16, 0xf1, 0x4d, 0x00, 0x00, 0x00,
    0x17, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xc0, 0x00, 0xc1, 0x5c, 0x22, 0x72, 0x27,
    0x52, 0x8c, 0x1a, 0x1a, 0x1a, 0x00, 0x39, 0x1f, 0x06, 0x18, 0x7d, 0x1d, 0x71, 0xc2, 0x00, 0x00, 0x00, 0x00,
    0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

void write_bytes(const fs::path& p, const std::vector<uint8_t>& b) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

}  // namespace

TEST(SrImage, DecodesAPngFromAnIndependentEncoder) {
  const Image im = decode_image(kTinyPng, "tiny.png");
  ASSERT_EQ(im.width, 3);
  ASSERT_EQ(im.height, 2);
  ASSERT_EQ(im.channels, 3);
  const std::vector<uint8_t> expect = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 200, 100, 50, 128, 128, 128};
  EXPECT_EQ(im.pixels, expect);
  // and stb_image_write's PNG decodes back to the same pixels
  const std::string png = encode_png(im);
  const Image back = decode_image({reinterpret_cast<const uint8_t*>(png.data()), png.size()}, "round trip");
  EXPECT_EQ(back.pixels, expect);
}

TEST(SrImage, LoaderErrorsNameTheFile) {
  const fs::path d = fresh_test_dir("superres", "loader_errors");
  EXPECT_NE(error_of([&] { read_image((d / "missing.png").string()); }).find("missing.png' not found"), std::string::npos);

  std::vector<uint8_t> cut(kTinyPng.begin(), kTinyPng.end() - 12);  // without its IEND chunk
  write_bytes(d / "cut.png", cut);
  const std::string e1 = error_of([&] { read_image((d / "cut.png").string()); });
  EXPECT_NE(e1.find("cut.png"), std::string::npos) << e1;
  EXPECT_NE(e1.find("truncated PNG"), std::string::npos) << e1;

  std::vector<uint8_t> bad = kTinyPng;
  bad[41] = 0x00;  // the zlib header of IDAT (0x78): IEND is whole, the data is not
  write_bytes(d / "bad.png", bad);
  const std::string e2 = error_of([&] { read_image((d / "bad.png").string()); });
  EXPECT_NE(e2.find("bad.png': cannot decode"), std::string::npos) << e2;

  write_bytes(d / "text.jpg", {'h', 'e', 'l', 'l', 'o'});
  const std::string e3 = error_of([&] { read_image((d / "text.jpg").string()); });
  EXPECT_NE(e3.find("text.jpg': not a PNG or JPEG"), std::string::npos) << e3;

  // A real photograph cut in half (in its scan data), and skimage's own truncated test JPEG.
  const std::string butterfly = "/usr/share/doc/opencv-doc/examples/data/butterfly.jpg";
  const std::string whole = read_file(butterfly);
  ASSERT_GT(whole.size(), 10000u) << butterfly << " (opencv-doc) is missing";
  EXPECT_EQ(read_image(butterfly).width, 493);
  write_bytes(d / "half.jpg", std::vector<uint8_t>(whole.begin(), whole.begin() + static_cast<ptrdiff_t>(whole.size() / 2)));
  const std::string e4 = error_of([&] { read_image((d / "half.jpg").string()); });
  EXPECT_NE(e4.find("half.jpg': truncated JPEG"), std::string::npos) << e4;
  const std::string sk = "/usr/lib/python3/dist-packages/skimage/data/truncated.jpg";
  EXPECT_NE(error_of([&] { read_image(sk); }).find("truncated.jpg': truncated JPEG"), std::string::npos);
}

// A header that claims more than 2^26 pixels (here 10000 x 10000 = 10^8; stb_image itself refuses
// more than 2^30 bytes) is refused before stb_image allocates for it; 8192 x 8192 = 2^26 exactly
// passes the size check (and then fails on its data).
TEST(SrImage, HugeClaimedSizeIsRefusedBeforeDecoding) {
  const auto header = [](uint32_t w, uint32_t h) {
    std::vector<uint8_t> b = kTinyPng;  // signature, then IHDR: length (4), "IHDR" (4), width, height (big-endian)
    for (int i = 0; i < 4; ++i) {
      b[16 + i] = static_cast<uint8_t>(w >> (24 - 8 * i));
      b[20 + i] = static_cast<uint8_t>(h >> (24 - 8 * i));
    }
    return b;
  };
  const auto huge = header(10000, 10000);
  const std::string e = error_of([&] { decode_image(huge, "huge.png"); });
  EXPECT_NE(e.find("image 'huge.png': 10000x10000 pixels is more than the 67108864 this tool decodes"),
            std::string::npos)
      << e;
  const auto limit = header(8192, 8192);
  const std::string e2 = error_of([&] { decode_image(limit, "limit.png"); });
  EXPECT_EQ(e2.find("pixels is more than"), std::string::npos) << e2;
  EXPECT_NE(e2.find("image 'limit.png': cannot decode"), std::string::npos) << e2;
}

TEST(SrImage, LumaIsBt601ByHand) {
  // black, white, red, a mid grey: Y·255 = 16 + (65.481 R + 128.553 G + 24.966 B)/255
  const Image im{4, 1, 3, {0, 0, 0, 255, 255, 255, 255, 0, 0, 51, 51, 51}};
  const std::vector<float> y = luma(im);
  EXPECT_NEAR(y[0], 16.0 / 255, 1e-7);
  EXPECT_NEAR(y[1], 235.0 / 255, 1e-7);
  EXPECT_NEAR(y[2], 81.481 / 255, 1e-7);
  EXPECT_NEAR(y[3], (16 + 219 * 0.2) / 255, 1e-7);  // 51 = 0.2 · 255
}

TEST(SrImage, PsnrAndSsimByHand) {
  // one pixel of four off by 0.1: MSE 0.0025, PSNR = 10 log10(400) dB
  EXPECT_NEAR(psnr(std::vector<float>{0.1f, 0, 0, 0}, std::vector<float>{0, 0, 0, 0}, 2, 2, 0), 26.020599913279625, 1e-5);
  // 4x4, border 1: the outer ring (off by 1) is ignored, the inner 2x2 is off by 0.5 -> 10 log10(4)
  std::vector<float> a(16, 1.0f), b(16, 0.0f);
  for (int i : {5, 6, 9, 10}) a[i] = 0.5f;
  EXPECT_NEAR(psnr(a, b, 4, 4, 1), 6.020599913279624, 1e-5);
  EXPECT_TRUE(std::isinf(psnr(b, b, 4, 4, 1)));
  EXPECT_NE(error_of([&] { psnr(a, b, 4, 4, 2); }).find("border of 2"), std::string::npos);
  // constant images 0.5 and 0.25: SSIM = (2·0.5·0.25 + C1) / (0.5² + 0.25² + C1), C1 = 1e-4
  std::vector<float> c(13 * 13, 0.5f), e(13 * 13, 0.25f);
  EXPECT_NEAR(ssim(c, e, 13, 13, 1), 0.2501 / 0.3126, 1e-6);
  EXPECT_NEAR(ssim(c, c, 13, 13, 0), 1.0, 1e-9);
}

namespace {
struct ResizeCase {
  int h, w, oh, ow;
  std::vector<double> expect;
};
// tests/train/data/bicubic_reference.py (exact rationals), input (7y² + 13x + 3xy + 5) mod 256 / 255
const std::vector<ResizeCase> kResize = {
  {6, 6, 3, 3, {0.0531400194355, 0.168527879902, 0.283915740368, 0.228944546569, 0.419546568627, 0.610148590686, 0.663511328604, 0.57761182598, 0.491712323357}},
  {6, 6, 2, 2, {0.112186987278, 0.340633153124, 0.556529223486, 0.544899002125}},
  {3, 3, 6, 6, {0.0123583026961, 0.0259966681985, 0.0532733992034, 0.0805501302083, 0.107826861213, 0.121465226716, 0.0182760799632, 0.0327940697763, 0.0618300494026, 0.0908660290288, 0.119902008655, 0.134419998468, 0.0301116344975, 0.046388872932, 0.0789433498009, 0.11149782667, 0.144052303539, 0.160329541973, 0.0595329733456, 0.0775694604013, 0.113642434513, 0.149715408624, 0.185788382736, 0.203824869792, 0.106540096507, 0.126335832184, 0.165927303539, 0.205518774893, 0.245110246247, 0.264905981924, 0.130043658088, 0.150719018076, 0.192069738051, 0.233420458027, 0.274771178002, 0.29544653799}},
  {4, 6, 8, 12, {0.0123583026961, 0.0259966681985, 0.0532733992034, 0.079381127451, 0.104319852941, 0.129258578431, 0.154197303922, 0.179136029412, 0.204074754902, 0.23018248315, 0.257459214154, 0.271097579657, 0.0182760799632, 0.0327940697763, 0.0618300494026, 0.089621629902, 0.116168811275, 0.142715992647, 0.16926317402, 0.195810355392, 0.222357536765, 0.250149117264, 0.27918509689, 0.293703086703, 0.0301116344975, 0.046388872932, 0.0789433498009, 0.110102634804, 0.139866727941, 0.169630821078, 0.199394914216, 0.229159007353, 0.25892310049, 0.290082385493, 0.322636862362, 0.338914100797, 0.0563419117647, 0.074303002451, 0.110225183824, 0.144607843137, 0.177450980392, 0.210294117647, 0.243137254902, 0.275980392157, 0.308823529412, 0.343206188725, 0.379128370098, 0.397089460784, 0.0969669117647, 0.116536458333, 0.155675551471, 0.193137254902, 0.228921568627, 0.264705882353, 0.300490196078, 0.336274509804, 0.372058823529, 0.409520526961, 0.448659620098, 0.468229166667, 0.155795228248, 0.177048627068, 0.219555424709, 0.260240502451, 0.299103860294, 0.337967218137, 0.37683057598, 0.415693933824, 0.454557291667, 0.495242369409, 0.53774916705, 0.55900256587, 0.232826861213, 0.255839508655, 0.301864803539, 0.345917585784, 0.387997855392, 0.430078125, 0.472158394608, 0.514238664216, 0.556318933824, 0.600371716069, 0.646397010953, 0.669409658395, 0.271342677696, 0.295234949449, 0.343019492953, 0.388756127451, 0.432444852941, 0.476133578431, 0.519822303922, 0.563511029412, 0.607199754902, 0.6529363894, 0.700720932904, 0.724613204657}},
  {9, 6, 3, 2, {0.11995541091, 0.337076784684, 0.475076432036, 0.585538431193, 0.487821380648, 0.415882323056}},
};
int reference_pixel(int y, int x) { return (7 * y * y + 13 * x + 3 * x * y + 5) % 256; }
}  // namespace

TEST(SrImage, BicubicMatchesAnExactRationalReference) {
  for (const auto& c : kResize) {
    std::vector<float> src;
    Image src8{c.w, c.h, 1, {}};
    for (int y = 0; y < c.h; ++y) {
      for (int x = 0; x < c.w; ++x) {
        src.push_back(static_cast<float>(reference_pixel(y, x) / 255.0));
        src8.pixels.push_back(static_cast<uint8_t>(reference_pixel(y, x)));
      }
    }
    const std::vector<float> out = resize_bicubic(src, c.h, c.w, c.oh, c.ow);
    const Image out8 = resize_bicubic(src8, c.oh, c.ow);
    ASSERT_EQ(out.size(), c.expect.size());
    for (size_t i = 0; i < out.size(); ++i) {
      EXPECT_NEAR(out[i], c.expect[i], 1e-6) << c.h << "x" << c.w << " -> " << c.oh << "x" << c.ow << " at " << i;
      // the 8-bit version rounds once, at the end (clamped to 0..255)
      EXPECT_EQ(out8.pixels[i], static_cast<uint8_t>(std::clamp(std::nearbyint(c.expect[i] * 255), 0.0, 255.0))) << i;
    }
  }
}

TEST(SrData, ModcropLrAndPatches) {
  // 10 wide, 9 high at scale 2: HR cropped to 10x8, LR 5x4; 2x2 LR patches on a grid: 2x2 of them
  Image im{10, 9, 1, {}};
  for (int i = 0; i < 90; ++i) im.pixels.push_back(static_cast<uint8_t>(i * 2));
  const SrImage s = make_sr_image(im, 2, "ten_by_nine");
  EXPECT_EQ(s.hr_w, 10);
  EXPECT_EQ(s.hr_h, 8);
  EXPECT_EQ(s.lr_w, 5);
  EXPECT_EQ(s.lr_h, 4);
  EXPECT_EQ(s.hr.size(), 80u);
  EXPECT_NEAR(s.hr[10 * 7 + 9], (16 + 219 * (79 * 2) / 255.0) / 255, 1e-6);  // last kept pixel
  const SrPatches p = cut_patches({s}, 2);
  ASSERT_EQ(p.count, 4);
  // patch 3 = LR rows 2..3, cols 2..3; its HR patch = HR rows 4..7, cols 4..7
  EXPECT_EQ(p.lr[3 * 4 + 0], s.lr[2 * 5 + 2]);
  EXPECT_EQ(p.hr[3 * 16 + 15], s.hr[7 * 10 + 7]);
  EXPECT_EQ(p.bicubic[3 * 16 + 5], s.bicubic[5 * 10 + 5]);
  EXPECT_NE(error_of([&] { make_sr_image(im, 3, "small"); }).find("'small': 10x9 is too small for scale 3"),
            std::string::npos);
}

TEST(SrData, FolderErrors) {
  const fs::path d = fresh_test_dir("superres", "folder_errors");
  EXPECT_NE(error_of([&] { load_sr_data("sr:" + d.string(), 2, 24); }).find("/train' not found"), std::string::npos);
  fs::create_directories(d / "train");
  fs::create_directories(d / "test");
  EXPECT_NE(error_of([&] { load_sr_data("sr:" + d.string(), 2, 24); }).find("no .png or .jpg images"), std::string::npos);
  EXPECT_NE(error_of([&] { load_sr_data("photos", 5, 24); }).find("scale 5: allowed 2, 3, 4"), std::string::npos);
  EXPECT_NE(error_of([&] { load_sr_data("cifar10:x", 2, 24); }).find("allowed: photos, sr:DIR"), std::string::npos);
}

TEST(SrData, PhotosSplitKeepsBenchmarkImagesOutOfTraining) {
  for (const auto& f : photos_train_files()) {
    for (const char* name : {"butterfly", "baboon", "lena", "barbara", "zebra", "monarch", "pepper"}) {
      EXPECT_EQ(fs::path(f).filename().string().find(name), std::string::npos) << f;
    }
  }
  EXPECT_EQ(fs::path(photos_test_files().front()).filename(), "butterfly.jpg");
}

TEST(SrConfig, TaskKeysAreCheckedAndRoundTrip) {
  TrainConfig cfg;
  apply_task(cfg, "superres");
  EXPECT_EQ(cfg.model, "espcn");
  EXPECT_EQ(cfg.data, "photos");
  EXPECT_EQ(cfg.optimizer, "adamw");  // the task's recipe (docs/superres.md, "Loss and optimizer")
  EXPECT_EQ(cfg.lr, 1e-3);
  cfg.validate();
  cfg.scale = 5;
  EXPECT_NE(error_of([&] { cfg.validate(); }).find("scale"), std::string::npos);
  cfg.scale = 3;
  const TrainConfig back = config_from_json(to_json(cfg));
  EXPECT_EQ(back.task, "superres");
  EXPECT_EQ(back.scale, 3);
  cfg.model = "lenet5";
  EXPECT_NE(error_of([&] { cfg.validate(); }).find("not a super-resolution model"), std::string::npos);
  TrainConfig t;
  apply_toml_text(t, "task = \"superres\"\nscale = 4\nlr = 0.02\n");
  EXPECT_EQ(t.model, "espcn");
  EXPECT_EQ(t.scale, 4);
  EXPECT_EQ(t.lr, 0.02);
  EXPECT_NE(error_of([&] { apply_toml_text(t, "scale = 9\n"); }).find("scale"), std::string::npos);
  EXPECT_NE(error_of([&] { apply_toml_text(t, "task = \"denoise\"\n"); }).find("allowed: classify, superres"),
            std::string::npos);
}

namespace {
// sr:DIR holding one 192x192 crop of a photograph as both its training and its test image.
std::string one_image_folder(const std::string& name) {
  const fs::path d = fresh_test_dir("superres", name);
  fs::create_directories(d / "train");
  fs::create_directories(d / "test");
  const Image full = read_image("/usr/lib/python3/dist-packages/skimage/data/astronaut.png");
  const Image c = crop(full, 40, 200, 192, 192);  // face and helmet edge
  write_png((d / "train" / "crop.png").string(), c);
  write_png((d / "test" / "crop.png").string(), c);
  return "sr:" + d.string();
}

// AdamW's peak learning rate for the tiny run, and the PSNR it must gain over bicubic (measured).
constexpr double kTinyAdamwLr = 1e-3;
constexpr double kTinyAdamwMarginDb = 0.15;

TrainConfig tiny_config(const std::string& data, const std::string& preset) {
  TrainConfig cfg;
  apply_task(cfg, "superres");
  apply_preset(cfg, preset);
  cfg.data = data;
  cfg.width = 16;
  cfg.epochs = 30;
  cfg.batch = 4;
  cfg.threads = 1;
  return cfg;
}
}  // namespace

// A short run must reduce its L1 loss on its own training image and write a whole run folder (beating
// bicubic is SrTrainLong.AdamwBeatsBicubicOnItsTrainingImage's check).
TEST(SrTrain, Fp32LearnsAndWritesTheRunFolder) {
  const TrainConfig cfg = tiny_config(one_image_folder("fp32"), "fp32");
  const fs::path out = fresh_test_dir("superres", "fp32_run");
  RunOptions opt;
  opt.out_dir = out.string();
  opt.progress = false;
  const RunSummary s = run_training(cfg, opt);
  ASSERT_EQ(s.epochs.size(), 30u);
  EXPECT_LT(s.epochs.back().train_loss, 0.85 * s.epochs.front().train_loss);
  EXPECT_LT(s.epochs.back().test_loss, s.epochs.front().test_loss);
  // bicubic's PSNR does not depend on the model: the same every epoch, and below the ground truth's +inf
  EXPECT_EQ(s.epochs.front().bicubic_psnr_db, s.bicubic_psnr_db);
  EXPECT_GT(s.bicubic_psnr_db, 25.0);
  EXPECT_LT(s.bicubic_psnr_db, 45.0);
  const auto j = nlohmann::json::parse(read_file(out / "summary.json"));
  EXPECT_EQ(j.at("test_psnr_db").get<double>(), s.test_psnr_db);
  EXPECT_EQ(j.at("bicubic_psnr_db").get<double>(), s.bicubic_psnr_db);
  EXPECT_EQ(j.at("config").at("task"), "superres");
  const Image pic = read_image((out / "sr_crop.png").string());
  EXPECT_EQ(pic.width, 3 * 128 + 2 * 4);
  EXPECT_EQ(pic.height, 128);
  EXPECT_EQ(read_file(out / "metrics.csv").substr(0, 40), "epoch,train_loss,test_loss,test_psnr_db,");
}

// The end-to-end check: a tiny AdamW run must beat bicubic on its own training image (one
// 192x192 crop of astronaut.png, width 16, batch 4, 100 epochs = 400 steps, lr 1e-3 cosine). When
// written it gained +0.299 dB (34.188 against bicubic's 33.889; docs/superres.md, "Status"); the
// margin is half of that. With 30 epochs (120 steps) it gained only +0.003 dB, and SGD runs of up
// to 200 steps ended at or below bicubic. (Suite *Long: a quality check of 400 steps, left out of the
// sanitizer tier, whose SrTrain tests run the same code.)
TEST(SrTrainLong, AdamwBeatsBicubicOnItsTrainingImage) {
  TrainConfig cfg = tiny_config(one_image_folder("adamw"), "fp32");
  cfg.optimizer = "adamw";
  cfg.lr = kTinyAdamwLr;
  cfg.epochs = 100;
  RunOptions opt;
  opt.out_dir = fresh_test_dir("superres", "adamw_run").string();
  opt.progress = false;
  const RunSummary s = run_training(cfg, opt);
  ASSERT_EQ(s.epochs.size(), 100u);
  std::printf("tiny adamw run: test PSNR %.4f dB, bicubic %.4f dB, gain %+.4f dB\n", s.test_psnr_db,
              s.bicubic_psnr_db, s.test_psnr_db - s.bicubic_psnr_db);
  EXPECT_GT(s.test_psnr_db, s.bicubic_psnr_db + kTinyAdamwMarginDb);
  EXPECT_GT(s.test_ssim, s.bicubic_ssim);
}

TEST(SrTrain, HarvestResumesBitIdentically) {
  const std::string data = one_image_folder("harvest");
  TrainConfig cfg = tiny_config(data, "int8-sr-harvest");
  cfg.epochs = 4;
  const fs::path a = fresh_test_dir("superres", "harvest_a"), b = fresh_test_dir("superres", "harvest_b");
  RunOptions opt;
  opt.progress = false;
  opt.out_dir = a.string();
  const RunSummary whole = run_training(cfg, opt);
  opt.out_dir = b.string();
  opt.stop_after_epochs = 2;
  (void)run_training(cfg, opt);
  opt.stop_after_epochs = 0;
  opt.resume = true;
  const RunSummary resumed = run_training(cfg, opt);
  ASSERT_EQ(resumed.epochs.size(), 4u);
  EXPECT_EQ(resumed.test_psnr_db, whole.test_psnr_db);
  EXPECT_EQ(resumed.epochs.back().train_loss, whole.epochs.back().train_loss);
  EXPECT_TRUE(std::isfinite(whole.test_psnr_db));
}
