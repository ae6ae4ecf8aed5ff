{
  # The CPU-only build for people who build with node-gyp (`npm run build:gyp`).
  # The default build is CMake (cmake-js), which also builds the CUDA backend
  # when the toolkit is present; both compile the same sources. The test-only
  # per-op addon (native/ops_addon, pyvision_rl_ops.node) is a CMake target only
  # (`npm run build:ops`); it is not part of this build nor of the production addon.
  # PYVISION_RL_NATIVE_ARCH=off (as for the CMake build) leaves out -march=native: the
  # compiler's baseline instruction set, which CI uses to test the paths without AVX-512.
  "targets": [
    {
      "target_name": "pyvision_rl",
      "sources": [
        "<!@(node -e \"const fs=require('fs'),path=require('path');const walk=(d)=>fs.readdirSync(d,{withFileTypes:true}).flatMap(e=>e.isDirectory()?walk(path.join(d,e.name)):[path.join(d,e.name)]);console.log(['native/core','native/cpu'].flatMap(walk).concat(fs.readdirSync('native/addon').map(f=>'native/addon/'+f)).filter(f=>f.endsWith('.cc')).join(' '))\")"
      ],
      "include_dirs": [
        "native",
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions", "-O2"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-O2", "-std=gnu++17"],
      "cflags": ["-O3", "-fopenmp", "-ffp-contract=off", "-fno-trapping-math", "-fno-math-errno", "<!@(node -p \"process.env.PYVISION_RL_NATIVE_ARCH === 'off' ? '' : '-march=native'\")"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fopenmp", "-ffp-contract=off", "-fno-trapping-math", "-fno-math-errno", "<!@(node -p \"process.env.PYVISION_RL_NATIVE_ARCH === 'off' ? '' : '-march=native'\")"],
      "ldflags": ["-fopenmp"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "OTHER_CFLAGS": ["-O3", "-ffp-contract=off"]
      }
    }
  ]
}
