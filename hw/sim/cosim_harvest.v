// Co-simulation top for the harvest extractor, driven by tests/hw/harvest_cosim_test.cpp: seven
// extractors (field, fold K, mix) fed the same four tap elements; an extractor with fold K reads
// elements 0..K-1. word_train16 is training's default extractor over 16 elements (four taps, each
// spread over at most four copies: tests/hw/harvest_training_cosim_test.cpp feeds it the elements of
// recorded training taps, unused inputs 0, whose field is 0: the XOR's identity).
module cosim_harvest (
  input  wire [4*32-1:0] taps,
  input  wire [16*32-1:0] taps16,
  output wire [15:0] word_train16, // bits 8-23, mix field, K = 16
  output wire [15:0] word_train,   // bits 8-23, mix field, K = 1 (training's default)
  output wire [15:0] word_plain,   // bits 0-15, mix none, K = 1 (the library's default)
  output wire [15:0] word_sum3,    // bits 8-23, mix field, K = 3 (a sum of taps, as training's act+act@+1+err@+1)
  output wire [15:0] word_fold4,   // bits 0-15, mix field, K = 4
  output wire [31:0] word_full,    // bits 0-31, mix field, K = 2
  output wire [2:0]  word_narrow,  // bits 3-5, mix field, K = 2
  output wire [7:0]  word_byte     // bits 12-19, mix field, K = 1 (rand_supply's harvest-field8)
);
  harvest_extract #(.LO(8), .HI(23), .K(1), .MIX(1)) u_train (.taps(taps[31:0]), .word(word_train));
  harvest_extract #(.LO(0), .HI(15), .K(1), .MIX(0)) u_plain (.taps(taps[31:0]), .word(word_plain));
  harvest_extract #(.LO(8), .HI(23), .K(3), .MIX(1)) u_sum3 (.taps(taps[95:0]), .word(word_sum3));
  harvest_extract #(.LO(0), .HI(15), .K(4), .MIX(1)) u_fold4 (.taps(taps), .word(word_fold4));
  harvest_extract #(.LO(0), .HI(31), .K(2), .MIX(1)) u_full (.taps(taps[63:0]), .word(word_full));
  harvest_extract #(.LO(3), .HI(5), .K(2), .MIX(1)) u_narrow (.taps(taps[63:0]), .word(word_narrow));
  harvest_extract #(.LO(12), .HI(19), .K(1), .MIX(1)) u_byte (.taps(taps[31:0]), .word(word_byte));
  harvest_extract #(.LO(8), .HI(23), .K(16), .MIX(1)) u_train16 (.taps(taps16), .word(word_train16));
endmodule
