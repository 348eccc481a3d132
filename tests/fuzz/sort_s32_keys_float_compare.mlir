module @jit__lambda_ attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<8x16xi32>) -> (tensor<8x16xi32> {jax.result_info = "result[0]"}, tensor<8x3xi32> {jax.result_info = "result[1]"}) {
    %0 = call @sort(%arg0) : (tensor<8x16xi32>) -> tensor<8x16xi32>
    %values, %indices = chlo.top_k(%arg0, k = 3) : tensor<8x16xi32> -> (tensor<8x3xi32>, tensor<8x3xi32>)
    return %0, %indices : tensor<8x16xi32>, tensor<8x3xi32>
  }
  func.func private @sort(%arg0: tensor<8x16xi32>) -> tensor<8x16xi32> {
    %0 = "stablehlo.sort"(%arg0) <{dimension = 1 : i64, is_stable = true}> ({
    ^bb0(%arg1: tensor<i32>, %arg2: tensor<i32>):
      %cst = stablehlo.constant dense<0x7F800000> : tensor<i32>
      %1 = stablehlo.compare  EQ, %arg1, %cst,  FLOAT : (tensor<i32>, tensor<i32>) -> tensor<i1>
      %2 = stablehlo.select %1, %cst, %arg1 : tensor<i1>, tensor<i32>
      %3 = stablehlo.compare  NE, %arg1, %arg1,  FLOAT : (tensor<i32>, tensor<i32>) -> tensor<i1>
      %cst_0 = stablehlo.constant dense<0x7FC00000> : tensor<i32>
      %4 = stablehlo.select %3, %cst_0, %2 : tensor<i1>, tensor<i32>
      %5 = stablehlo.compare  EQ, %arg2, %cst,  FLOAT : (tensor<i32>, tensor<i32>) -> tensor<i1>
      %6 = stablehlo.select %5, %cst, %arg2 : tensor<i1>, tensor<i32>
      %7 = stablehlo.compare  NE, %arg2, %arg2,  FLOAT : (tensor<i32>, tensor<i32>) -> tensor<i1>
      %8 = stablehlo.select %7, %cst_0, %6 : tensor<i1>, tensor<i32>
      %9 = stablehlo.compare  LT, %4, %8,  TOTALORDER : (tensor<i32>, tensor<i32>) -> tensor<i1>
      stablehlo.return %9 : tensor<i1>
    }) : (tensor<8x16xi32>) -> tensor<8x16xi32>
    return %0 : tensor<8x16xi32>
  }
}
