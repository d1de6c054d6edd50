// FP32 -> fixed:WL (two's complement, saturating; docs/formats.md "Fixed point") on the grid of step
// 2^step_exp: fixed:WL:FL ties step_exp to -FL, fixed:WL:dyn feeds the per-tensor exponent. SR on the
// two's complement value (RNE = 0): lo = floor(x / step), f = the top R bits of the fraction, result
// lo + [f + r >= 2^R]; RNE = 1: nearest, ties to even k. Exactly rngfree::quantize. Combinational;
// y = k, the result is k * step. NaN raises `nan` (y = 0); infinities and |x| beyond the grid saturate.
module sr_fixed #(
  parameter integer WL = 8,   // word length 2..24, sign included (WL + R <= 40)
  parameter integer R = 8,    // random bits 1..16 (SR only)
  parameter integer RNE = 0,  // 1: round to nearest even (r ignored)
  parameter integer SEW = 10  // width of step_exp (signed)
) (
  input  wire [31:0]          x,
  input  wire signed [SEW-1:0] step_exp,
  input  wire [R-1:0]         r,
  output wire [WL-1:0]        y,
  output wire                 nan
);
  localparam integer FB = RNE ? 1 : R;  // fraction bits kept (RNE: the guard bit; sticky separately)
  localparam integer P = WL + FB;       // magnitude bits: WL integer bits (one spare), FB fraction bits

  wire       sign = x[31];
  wire [7:0] eb = x[30:23];
  assign nan = (eb == 8'hff) && (x[22:0] != 23'd0);
  wire       is_inf = (eb == 8'hff) && (x[22:0] == 23'd0);
  wire [23:0] sig = {eb != 8'd0, x[22:0]};
  wire [7:0] ebn = (eb == 8'd0) ? 8'd1 : eb;
  // |x| * 2^(FB - step_exp) * 2^24 = sig << s: 24 bits below the FB fraction bits hold the sticky.
  wire signed [12:0] s = $signed({5'b00000, ebn}) - 13'sd150 - step_exp + FB + 24;
  wire [6:0] s_amt = (s < 0) ? 7'd0 : ((s > P + 24) ? P + 24 : s[6:0]);
  wire [P+47:0] wide = {{(P + 24){1'b0}}, sig} << s_amt;
  wire overflow = ((s > P + 24) && (sig != 24'd0)) || (|wide[P+47:P+24]);   // |x| >= 2^WL steps
  wire [P-1:0] mt = (s < 0) ? {P{1'b0}} : wide[P+23:24];                     // truncated magnitude
  wire sticky = (s < 0) ? (sig != 24'd0) : (|wide[23:0]);
  // floor(x * 2^(FB - step_exp)) in two's complement: -(magnitude rounded up) for negative x.
  wire [P:0] mag_ceil = {1'b0, mt} + sticky;
  wire signed [P+1:0] t = sign ? -$signed({1'b0, mag_ceil}) : $signed({2'b00, mt});

  wire signed [WL+1:0] k;
  generate
    if (RNE) begin : g_rne
      wire signed [P:0] lo = t >>> 1;
      wire up = t[0] & (sticky | lo[0]);   // guard set and (above half, or a tie with odd lo)
      assign k = lo + up;
    end else begin : g_sr
      wire signed [P+2:0] sum = t + $signed({3'b000, r});
      assign k = sum >>> FB;                 // lo + carry of f + r
    end
  endgenerate

  localparam signed [WL+1:0] KMAX = (1 <<< (WL - 1)) - 1;
  localparam signed [WL+1:0] KMIN = -(1 <<< (WL - 1));
  wire sat_hi = (overflow || is_inf) ? !sign : (k > KMAX);
  wire sat_lo = (overflow || is_inf) ? sign : (k < KMIN);
  assign y = nan ? {WL{1'b0}} : sat_hi ? KMAX[WL-1:0] : sat_lo ? KMIN[WL-1:0] : k[WL-1:0];
endmodule
