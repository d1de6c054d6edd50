// SVG line charts and heatmaps for run reports. Plain string building: the output is a standalone
// SVG 1.1 document, identical for identical input (no timestamps, fixed number formatting).
#include "rngfree/report/svg.hpp"

#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "rngfree/error.hpp"

namespace rngfree::report {
namespace {

// A colour-blind-friendly qualitative palette (Okabe–Ito).
constexpr const char* kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                    "#E69F00", "#56B4E9", "#000000", "#F0E442"};

// "Nice" tick positions covering [lo, hi]: steps of 1, 2 or 5 times a power of ten.
std::vector<double> nice_ticks(double lo, double hi, int target) {
  std::vector<double> ticks;
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  }
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::string tick_label(double v) {
  std::string s = fmt::format("{:.6g}", v);
  return s;
}

void data_range(const LineChart& c, bool x_axis, double& lo, double& hi) {
  lo = std::numeric_limits<double>::infinity();
  hi = -lo;
  for (const auto& s : c.series) {
    for (double v : x_axis ? s.x : s.y) {
      if (std::isfinite(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
  }
  if (!std::isfinite(lo)) {
    lo = 0;
    hi = 1;
  }
  if (hi == lo) {
    lo -= 0.5;
    hi += 0.5;
  } else if (!x_axis) {
    const double m = 0.05 * (hi - lo);
    lo -= m;
    hi += m;
  }
}

// Linear interpolation of a colour scale red (0) -> yellow (0.5) -> green (1).
std::string scale_colour(double t) {
  t = std::clamp(t, 0.0, 1.0);
  int r, g, b;
  if (t < 0.5) {
    const double u = t / 0.5;
    r = 215;
    g = static_cast<int>(48 + u * (200 - 48));
    b = 39;
  } else {
    const double u = (t - 0.5) / 0.5;
    r = static_cast<int>(215 - u * (215 - 26));
    g = static_cast<int>(200 - u * (200 - 150));
    b = static_cast<int>(39 + u * (65 - 39));
  }
  return fmt::format("#{:02x}{:02x}{:02x}", r, g, b);
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string render_svg(const LineChart& c) {
  const int w = c.width, h = c.height;
  const int left = 70, right = 190, top = 40, bottom = 55;
  const int pw = w - left - right, ph = h - top - bottom;
  double x0, x1, y0, y1;
  data_range(c, true, x0, x1);
  data_range(c, false, y0, y1);
  if (c.x_max > c.x_min) x0 = c.x_min, x1 = c.x_max;
  if (c.y_max > c.y_min) y0 = c.y_min, y1 = c.y_max;
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return top + ph - (y - y0) / (y1 - y0) * ph; };

  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      w, h, w, h);
  s += fmt::format("<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
                   left + pw / 2, xml_escape(c.title));
  for (double t : nice_ticks(y0, y1, 6)) {
    if (t < y0 || t > y1) continue;
    s += fmt::format("<line x1=\"{}\" y1=\"{:.2f}\" x2=\"{}\" y2=\"{:.2f}\" stroke=\"#ddd\"/>\n", left, py(t),
                     left + pw, py(t));
    s += fmt::format("<text x=\"{}\" y=\"{:.2f}\" text-anchor=\"end\">{}</text>\n", left - 6, py(t) + 4,
                     tick_label(t));
  }
  for (double t : nice_ticks(x0, x1, 8)) {
    if (t < x0 || t > x1) continue;
    s += fmt::format("<line x1=\"{:.2f}\" y1=\"{}\" x2=\"{:.2f}\" y2=\"{}\" stroke=\"#eee\"/>\n", px(t), top,
                     px(t), top + ph);
    s += fmt::format("<text x=\"{:.2f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", px(t), top + ph + 18,
                     tick_label(t));
  }
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n", left,
                   top, pw, ph);
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", left + pw / 2, h - 12,
                   xml_escape(c.x_label));
  s += fmt::format(
      "<text x=\"16\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {})\">{}</text>\n",
      top + ph / 2, top + ph / 2, xml_escape(c.y_label));

  for (size_t i = 0; i < c.series.size(); ++i) {
    const auto& ser = c.series[i];
    RNGFREE_CHECK(ser.x.size() == ser.y.size(), "series x and y differ in length");
    const char* colour = kPalette[i % std::size(kPalette)];
    std::string path;
    bool pen_down = false;
    for (size_t k = 0; k < ser.x.size(); ++k) {
      if (!std::isfinite(ser.x[k]) || !std::isfinite(ser.y[k])) {
        pen_down = false;
        continue;
      }
      path += fmt::format("{}{:.2f},{:.2f} ", pen_down ? "L" : "M", px(ser.x[k]), py(ser.y[k]));
      pen_down = true;
    }
    s += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", path, colour);
    for (size_t k = 0; k < ser.x.size(); ++k) {
      if (std::isfinite(ser.x[k]) && std::isfinite(ser.y[k])) {
        s += fmt::format("<circle cx=\"{:.2f}\" cy=\"{:.2f}\" r=\"2.5\" fill=\"{}\"/>\n", px(ser.x[k]),
                         py(ser.y[k]), colour);
      }
    }
    const int ly = top + 10 + static_cast<int>(i) * 20;
    s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"3\"/>\n",
                     left + pw + 12, ly, left + pw + 34, ly, colour);
    s += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", left + pw + 40, ly + 4, xml_escape(ser.label));
  }
  s += "</svg>\n";
  return s;
}

std::string render_svg(const Heatmap& m) {
  const int rows = static_cast<int>(m.row_labels.size());
  const int cols = static_cast<int>(m.column_labels.size());
  RNGFREE_CHECK(static_cast<int>(m.values.size()) == rows, "heatmap rows differ from row labels");
  RNGFREE_CHECK(m.cell_text.empty() || static_cast<int>(m.cell_text.size()) == rows, "heatmap cell_text rows differ");
  size_t longest_row_label = 4;
  for (const auto& l : m.row_labels) longest_row_label = std::max(longest_row_label, l.size());
  const int cell_w = 44, cell_h = 24;
  const int left = 20 + static_cast<int>(longest_row_label) * 7, top = 90, right = 110, bottom = 50;
  const int w = left + cols * cell_w + right, h = top + rows * cell_h + bottom;
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      w, h, w, h);
  s += fmt::format("<text x=\"{}\" y=\"22\" font-size=\"15\">{}</text>\n", 10, xml_escape(m.title));
  for (int c = 0; c < cols; ++c) {
    const int x = left + c * cell_w + cell_w / 2;
    s += fmt::format("<text x=\"{}\" y=\"{}\" transform=\"rotate(-60 {} {})\">{}</text>\n", x, top - 6, x,
                     top - 6, xml_escape(m.column_labels[c]));
  }
  for (int r = 0; r < rows; ++r) {
    RNGFREE_CHECK(static_cast<int>(m.values[r].size()) == cols, "heatmap row length differs from columns");
    RNGFREE_CHECK(m.cell_text.empty() || static_cast<int>(m.cell_text[r].size()) == cols,
                  "heatmap cell_text row length differs from columns");
    const int y = top + r * cell_h;
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", left - 6, y + cell_h / 2 + 4,
                     xml_escape(m.row_labels[r]));
    for (int c = 0; c < cols; ++c) {
      const double v = m.values[r][c];
      const int x = left + c * cell_w;
      const bool has = std::isfinite(v);
      const double t = has && m.v_max > m.v_min ? (v - m.v_min) / (m.v_max - m.v_min) : 0.0;
      s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"white\"/>\n", x, y,
                       cell_w, cell_h, has ? scale_colour(t) : "#bbbbbb");
      if (m.annotate) {
        const bool custom = !m.cell_text.empty() && !m.cell_text[r][c].empty();
        const std::string label = custom ? m.cell_text[r][c]
                                  : has  ? fmt::vformat(m.value_format, fmt::make_format_args(v))
                                         : "n/a";
        s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"9\">{}</text>\n",
                         x + cell_w / 2, y + cell_h / 2 + 3, xml_escape(label));
      }
    }
  }
  // Colour scale legend.
  const int lx = left + cols * cell_w + 30;
  for (int i = 0; i <= 10; ++i) {
    const double t = 1.0 - i / 10.0;
    s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"18\" height=\"12\" fill=\"{}\"/>\n", lx, top + i * 12,
                     scale_colour(t));
  }
  s += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", lx + 22, top + 10, tick_label(m.v_max));
  s += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", lx + 22, top + 130, tick_label(m.v_min));
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", left + cols * cell_w / 2, h - 14,
                   xml_escape(m.x_label));
  if (!m.y_label.empty()) {
    s += fmt::format("<text x=\"10\" y=\"{}\">{}</text>\n", top - 10, xml_escape(m.y_label));
  }
  s += "</svg>\n";
  return s;
}

}  // namespace rngfree::report
