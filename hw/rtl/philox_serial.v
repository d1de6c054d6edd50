// Philox4x32-10, round-serial: one round per cycle through one philox_round (two multipliers), ten
// cycles per block. Same stream as philox_unrolled (docs/random.md). After `load`, `valid` pulses with
// each block; the counter then advances and the next block starts at once.
module philox_serial (
  input  wire         clk,
  input  wire         load,
  input  wire [63:0]  key_seed,
  input  wire [127:0] counter_seed,
  output reg  [127:0] block,
  output reg          valid
);
  reg [127:0] counter, x;
  reg [63:0]  key, k;
  reg [3:0]   round;   // rounds done on x
  wire [127:0] y;
  philox_round u_round (.x(x), .key(k), .y(y));
  always @(posedge clk)
    if (load) begin
      counter <= counter_seed; key <= key_seed; x <= counter_seed; k <= key_seed;
      round <= 4'd0; valid <= 1'b0;
    end else if (round == 4'd9) begin       // the tenth round ends a block
      block <= y; valid <= 1'b1;
      counter <= counter + 128'd1; x <= counter + 128'd1; k <= key; round <= 4'd0;
    end else begin
      x <= y; k <= {k[63:32] + 32'hBB67AE85, k[31:0] + 32'h9E3779B9};
      round <= round + 4'd1; valid <= 1'b0;
    end
endmodule
