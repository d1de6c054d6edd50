// Philox4x32-10, ten rounds unrolled (combinational), one 128-bit block per cycle: the library's philox
// (docs/random.md): key = (seed lo, seed hi), a 128-bit counter from `counter_seed` (site in the high
// 64 bits), incremented per block; the block's words x0..x3 are the next four words of the stream.
module philox_unrolled (
  input  wire         clk,
  input  wire         load,
  input  wire [63:0]  key_seed,
  input  wire [127:0] counter_seed,
  input  wire         en,       // next block
  output wire [127:0] block     // Philox4x32-10(counter, key), x0 in bits 31:0
);
  reg [127:0] counter;
  reg [63:0]  key;
  wire [127:0] x [0:10];
  wire [63:0]  k [0:9];
  assign x[0] = counter;
  genvar i;
  generate
    for (i = 0; i < 10; i = i + 1) begin : g_round
      // round i uses the key bumped i times (Weyl constants 0x9E3779B9, 0xBB67AE85)
      assign k[i] = {key[63:32] + 32'hBB67AE85 * i, key[31:0] + 32'h9E3779B9 * i};
      philox_round u_round (.x(x[i]), .key(k[i]), .y(x[i+1]));
    end
  endgenerate
  assign block = x[10];
  always @(posedge clk)
    if (load) begin counter <= counter_seed; key <= key_seed; end
    else if (en) counter <= counter + 128'd1;
endmodule
