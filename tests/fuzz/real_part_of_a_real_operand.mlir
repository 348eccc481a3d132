module @jit__lambda_ attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<8x16xbf16>, %arg1: tensor<8x16xbf16>) -> (tensor<8x16xbf16> {jax.result_info = "result"}) {
    %0 = stablehlo.real %arg0 : tensor<8x16xbf16>
    %1 = stablehlo.negate %arg1 : tensor<8x16xbf16>
    %2 = stablehlo.exponential %1 : tensor<8x16xbf16>
    %3 = stablehlo.multiply %0, %2 : tensor<8x16xbf16>
    %4 = stablehlo.maximum %arg0, %arg1 : tensor<8x16xbf16>
    %5 = stablehlo.multiply %arg1, %arg1 : tensor<8x16xbf16>
    %cst = stablehlo.constant dense<1.000000e+00> : tensor<bf16>
    %6 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<bf16>) -> tensor<8x16xbf16>
    %7 = stablehlo.add %6, %5 : tensor<8x16xbf16>
    %8 = stablehlo.divide %4, %7 : tensor<8x16xbf16>
    %9 = stablehlo.add %3, %8 : tensor<8x16xbf16>
    return %9 : tensor<8x16xbf16>
  }
}
