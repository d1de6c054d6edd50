// One Philox4x32 round (Salmon et al., SC 2011; Random123's philox4x32round): two 32x32 -> 64-bit
// multiplies by 0xD2511F53 and 0xCD9E8D57, then x = {hi1 ^ x1 ^ k0, lo1, hi0 ^ x3 ^ k1, lo0}.
// Words are packed x0 in bits 31:0 ... x3 in bits 127:96; the key k0 in 31:0, k1 in 63:32.
module philox_round (
  input  wire [127:0] x,
  input  wire [63:0]  key,
  output wire [127:0] y
);
  wire [63:0] p0 = x[31:0] * 64'hD2511F53;
  wire [63:0] p1 = x[95:64] * 64'hCD9E8D57;
  assign y = {p0[31:0], p0[63:32] ^ x[127:96] ^ key[63:32], p1[31:0], p1[63:32] ^ x[63:32] ^ key[31:0]};
endmodule
