{
  "variables": {
    "ck_gloo%": "<!(node -p \"require('fs').existsSync('/usr/include/gloo/rendezvous/context.h') ? 1 : 0\")"
  },
  "targets": [
    {
      "target_name": "convkit",
      "sources": [
        "<!@(node -p \"require('fs').readdirSync('csrc/binding').filter(f=>f.endsWith('.cc')).map(f=>'csrc/binding/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('csrc/cpu').filter(f=>f.endsWith('.cc')&&!f.includes('_avx')).map(f=>'csrc/cpu/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('csrc/cudnn').filter(f=>f.endsWith('.cc')).map(f=>'csrc/cudnn/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('csrc/distributed').filter(f=>f.endsWith('.cc')).map(f=>'csrc/distributed/'+f).join(' ')\")"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "csrc"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "CK_FLAVOUR=\"cpu\""],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-frtti"],
      "conditions": [
        ["target_arch=='x64'", {
          "defines": ["CK_ISA_DISPATCH"],
          "dependencies": ["convkit_avx2", "convkit_avx512", "convkit_avx512bf16"]
        }]
      ]
    }
  ],
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        {
          "target_name": "convkit_avx2",
          "type": "static_library",
          "sources": ["<!@(node -p \"require('fs').readdirSync('csrc/cpu').filter(f=>f.endsWith('_avx2.cc')).map(f=>'csrc/cpu/'+f).join(' ')\")"],
          "include_dirs": ["csrc"],
          "cflags!": ["-fno-exceptions"],
          "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
          "cflags_cc": ["-std=c++17", "-O3", "-fPIC", "-fvisibility=hidden", "-mavx2", "-mfma"]
        },
        {
          "target_name": "convkit_avx512",
          "type": "static_library",
          "sources": ["<!@(node -p \"require('fs').readdirSync('csrc/cpu').filter(f=>f.endsWith('_avx512.cc')).map(f=>'csrc/cpu/'+f).join(' ')\")"],
          "include_dirs": ["csrc"],
          "cflags!": ["-fno-exceptions"],
          "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
          "cflags_cc": ["-std=c++17", "-O3", "-fPIC", "-fvisibility=hidden", "-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma"]
        },
        {
          "target_name": "convkit_avx512bf16",
          "type": "static_library",
          "sources": ["<!@(node -p \"require('fs').readdirSync('csrc/cpu').filter(f=>f.endsWith('_avx512bf16.cc')).map(f=>'csrc/cpu/'+f).join(' ')\")"],
          "include_dirs": ["csrc"],
          "cflags!": ["-fno-exceptions"],
          "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
          "cflags_cc": ["-std=c++17", "-O3", "-fPIC", "-fvisibility=hidden", "-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma", "-mavx512bf16"]
        }
      ]
    }],
    ["ck_gloo==1", {
      "targets": [
        {
          "target_name": "convkit_gloo",
          "type": "shared_library",
          "product_prefix": "",
          "product_name": "convkit_gloo",
          "product_extension": "so",
          "product_dir": "<(PRODUCT_DIR)",
          "sources": ["csrc/distributed/gloo/convkit_gloo.cc"],
          "libraries": ["-lgloo"],
          "cflags!": ["-fno-exceptions"],
          "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
          "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-frtti", "-fvisibility=hidden"]
        }
      ]
    }]
  ]
}
