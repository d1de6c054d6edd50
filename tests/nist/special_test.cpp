// igamc/igam against independent closed forms: Q(1,x) = e^-x, Q(1/2,x) = erfc(sqrt x), integer a
// (Poisson sums, summed here in long double), half-integer a (erfc plus a finite sum), and the
// standard normal CDF against tabulated values.
#include <gtest/gtest.h>

#include <cmath>

#include "rngfree/nist/special.hpp"

namespace rngfree::nist {
namespace {

// Q(n, x) = e^-x sum_{k<n} x^k / k! for integer n, each term in log space, summed in long double.
double poisson_q(int n, double x) {
  long double sum = 0;
  for (int k = 0; k < n; ++k) sum += std::exp(static_cast<long double>(-x + k * std::log(x)) - std::lgamma(k + 1.0L));
  return static_cast<double>(sum);
}
// Q(j + 1/2, x) = erfc(sqrt x) + e^-x sum_{i<j} x^(i+1/2) / Gamma(i + 3/2).
double half_integer_q(int j, double x) {
  double sum = std::erfc(std::sqrt(x));
  for (int i = 0; i < j; ++i) sum += std::exp(-x + (i + 0.5) * std::log(x) - std::lgamma(i + 1.5));
  return sum;
}

TEST(NistSpecial, IgamcClosedForms) {
  for (double x : {1e-3, 0.3, 1.0, 2.5, 7.0, 30.0, 200.0}) {
    // Cephes forms exp(a log x - x - lgamma a): relative error grows like x * 2^-53.
    EXPECT_NEAR(igamc(1.0, x), std::exp(-x), (1e-14 + x * 2e-16) * std::exp(-x)) << x;
    EXPECT_NEAR(igamc(0.5, x), std::erfc(std::sqrt(x)), 1e-13 * std::erfc(std::sqrt(x)) + 1e-300) << x;
  }
  for (int n : {2, 3, 5, 10, 64, 200, 1000}) {
    for (double f : {0.3, 0.9, 1.0, 1.1, 2.0}) {
      const double x = f * n;
      const double q = poisson_q(n, x);
      if (q < 1e-250) continue;
      EXPECT_NEAR(igamc(n, x), q, 1e-11 * q) << "a=" << n << " x=" << x;
      EXPECT_NEAR(igam(n, x), 1.0 - q, 1e-11) << "a=" << n << " x=" << x;
    }
  }
  for (int j : {1, 2, 3, 4, 7, 20}) {  // a = 1.5 .. 20.5: the chi-square P-values with odd degrees of freedom
    for (double x : {0.2, 1.0, 3.3, 10.0, 25.0}) {
      const double q = half_integer_q(j, x);
      EXPECT_NEAR(igamc(j + 0.5, x), q, 1e-12 * q) << "a=" << j + 0.5 << " x=" << x;
    }
  }
  EXPECT_EQ(igamc(3.0, 0.0), 1.0);
  EXPECT_EQ(igamc(2.0, 1e6), 0.0);  // underflow, not NaN
}

TEST(NistSpecial, NormalCdfTable) {
  EXPECT_DOUBLE_EQ(normal_cdf(0.0), 0.5);
  EXPECT_NEAR(normal_cdf(1.96), 0.97500210485177952, 1e-15);
  EXPECT_NEAR(normal_cdf(-1.0), 0.15865525393145705, 1e-15);
  EXPECT_NEAR(normal_cdf(3.0), 0.99865010196837, 1e-14);
}

}  // namespace
}  // namespace rngfree::nist
