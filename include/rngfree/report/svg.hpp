// Small SVG charts for reports (accuracy curves, pass-rate heatmaps): self-contained files that any
// browser shows, written without a plotting dependency. Deterministic output for the same input.
#pragma once
#include <string>
#include <vector>

namespace rngfree::report {

struct Series {
  std::string label;
  std::vector<double> x;
  std::vector<double> y;  // same length as x; NaN values break the line
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<Series> series;
  // Axis ranges; when min >= max the range is taken from the data (with a small margin).
  double x_min = 0, x_max = 0, y_min = 0, y_max = 0;
  int width = 720, height = 440;
};

struct Heatmap {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<std::string> column_labels;
  std::vector<std::string> row_labels;
  std::vector<std::vector<double>> values;  // values[row][column]; NaN cells are drawn grey ("no data")
  double v_min = 0.0, v_max = 1.0;         // colour scale (red at v_min, green at v_max)
  bool annotate = true;                     // print each value in its cell
  std::string value_format = "{:.2f}";      // fmt-style format for annotations
  // Optional text per cell, shown instead of the formatted value where non-empty (e.g. "181/188"
  // in a cell coloured by a verdict). Empty, or the same shape as values.
  std::vector<std::vector<std::string>> cell_text;
};

std::string render_svg(const LineChart& chart);
std::string render_svg(const Heatmap& heatmap);

// Escapes &, <, >, " for SVG/XML text.
std::string xml_escape(const std::string& text);

}  // namespace rngfree::report
