// Invariants of the SVG report writers: one path per series, one cell per heatmap value, text
// escaped, NaN shown as "no data", atomic writes leave no temporary file behind.
#include "rngfree/report/svg.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "rngfree/error.hpp"

namespace rngfree::report {
namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(Svg, LineChartHasOnePathPerSeriesAndEscapedLabels) {
  LineChart c;
  c.title = "acc <test> & more";
  c.series = {{"a", {0, 1, 2}, {0.1, 0.5, 0.9}}, {"b\"q", {0, 1, 2}, {0.2, NAN, 0.3}}};
  const std::string svg = render_svg(c);
  EXPECT_EQ(count(svg, "<path "), 2u);
  EXPECT_EQ(count(svg, "<circle "), 5u);  // the NaN point is not drawn
  EXPECT_NE(svg.find("acc &lt;test&gt; &amp; more"), std::string::npos);
  EXPECT_NE(svg.find("b&quot;q"), std::string::npos);
  EXPECT_EQ(svg.rfind("</svg>\n"), svg.size() - 7);
  // The NaN breaks the second line into two pieces: two "M" commands in its path.
  const size_t second = svg.find("<path ", svg.find("<path ") + 1);
  const std::string d = svg.substr(second, svg.find("/>", second) - second);
  EXPECT_EQ(count(d, "M"), 2u);
}

TEST(Svg, HeatmapHasOneCellPerValueAndGreyForMissing) {
  Heatmap m;
  m.column_labels = {"b0", "b1", "b2"};
  m.row_labels = {"act", "err"};
  m.values = {{0.0, 0.5, 1.0}, {NAN, 1.0, 0.25}};
  const std::string svg = render_svg(m);
  EXPECT_EQ(count(svg, "stroke=\"white\""), 6u);
  EXPECT_EQ(count(svg, "#bbbbbb"), 1u);
  EXPECT_EQ(count(svg, ">n/a<"), 1u);
  EXPECT_NE(svg.find(">0.25<"), std::string::npos);
}

TEST(Svg, HeatmapCellTextReplacesTheValueWhereGiven) {
  Heatmap m;
  m.column_labels = {"early", "late"};
  m.row_labels = {"0.E"};
  m.values = {{1.0, 0.0}};
  m.cell_text = {{"181/188", ""}};  // the second cell keeps its formatted value
  const std::string svg = render_svg(m);
  EXPECT_EQ(count(svg, ">181/188<"), 1u);
  EXPECT_EQ(count(svg, ">0.00<"), 1u);
  EXPECT_EQ(count(svg, ">1.00<"), 0u);
}

}  // namespace
}  // namespace rngfree::report
