// Marsaglia's xorshift32 with shifts (13, 17, 5), the library's xorshift32 (docs/random.md): each step
// x ^= x << 13; x ^= x >> 17; x ^= x << 5, and the word is the new x. 32 flip-flops and XORs.
module xorshift32 (
  input  wire        clk,
  input  wire        load,   // state <= seed (nonzero)
  input  wire [31:0] seed,
  input  wire        en,
  output reg  [31:0] state   // after load and k steps: the k-th word
);
  wire [31:0] a = state ^ (state << 13);
  wire [31:0] b = a ^ (a >> 17);
  wire [31:0] c = b ^ (b << 5);
  always @(posedge clk)
    if (load) state <= seed;
    else if (en) state <= c;
endmodule
