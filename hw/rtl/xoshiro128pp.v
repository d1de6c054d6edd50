// xoshiro128++ (Blackman & Vigna), the library's xoshiro128pp (docs/random.md): the word of a step is
// rotl(s0 + s3, 7) + s0 of the state before it, then t = s1 << 9; s2 ^= s0; s3 ^= s1; s1 ^= s2;
// s0 ^= s3; s2 ^= t; s3 = rotl(s3, 11). 128 flip-flops, two 32-bit adders, XORs.
module xoshiro128pp (
  input  wire         clk,
  input  wire         load,   // {s3, s2, s1, s0} <= seed
  input  wire [127:0] seed,
  input  wire         en,
  output wire [31:0]  word    // the next word (combinational from the state)
);
  reg [31:0] s0, s1, s2, s3;
  wire [31:0] sum = s0 + s3;
  wire [31:0] rot = {sum[24:0], sum[31:25]};
  assign word = rot + s0;
  wire [31:0] t = s1 << 9;
  wire [31:0] n2 = s2 ^ s0;
  wire [31:0] n3 = s3 ^ s1;
  wire [31:0] n1 = s1 ^ n2;
  wire [31:0] n0 = s0 ^ n3;
  wire [31:0] n2t = n2 ^ t;
  always @(posedge clk)
    if (load) {s3, s2, s1, s0} <= seed;
    else if (en) begin
      s0 <= n0; s1 <= n1; s2 <= n2t; s3 <= {n3[20:0], n3[31:21]};
    end
endmodule
