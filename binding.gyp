{
  "targets": [
    {
      "target_name": "convkit",
      "sources": [
        "<!@(node -p \"require('fs').readdirSync('csrc/binding').filter(f=>f.endsWith('.cc')).map(f=>'csrc/binding/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('csrc/cpu').filter(f=>f.endsWith('.cc')).map(f=>'csrc/cpu/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('csrc/cudnn').filter(f=>f.endsWith('.cc')).map(f=>'csrc/cudnn/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('csrc/distributed').filter(f=>f.endsWith('.cc')).map(f=>'csrc/distributed/'+f).join(' ')\")"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "csrc"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "CK_FLAVOUR=\"cpu\""],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-frtti"],
      "conditions": [
        ["target_arch=='x64'", { "cflags_cc": ["-mavx2", "-mfma"] }]
      ]
    }
  ]
}
