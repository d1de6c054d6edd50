// Special functions for SP 800-22 P-values (section 5.5.3): the regularized incomplete gamma
// functions P(a,x) = igam and Q(a,x) = igamc, computed as the Cephes library does (power series for
// x < max(1, a), Legendre continued fraction otherwise), which is what NIST STS 2.1.2 uses; and the
// standard normal CDF as STS computes it (0.5 * (1 + erf(x / sqrt 2))).
#pragma once

namespace rngfree::nist {

// Q(a, x) = Gamma(a, x) / Gamma(a), a > 0, x >= 0; returns 1 for x <= 0 (as Cephes does).
double igamc(double a, double x);
// P(a, x) = 1 - Q(a, x).
double igam(double a, double x);
// Standard normal cumulative distribution function, STS's cephes_normal.
double normal_cdf(double x);
// log Gamma(x) for x > 0 (thread-safe: lgamma_r, no global signgam).
double log_gamma(double x);

}  // namespace rngfree::nist
