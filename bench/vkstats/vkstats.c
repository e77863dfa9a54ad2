/*
 * vkstats: build one SPIR-V compute shader into a Vulkan compute pipeline and
 * print the driver's pipeline-executable statistics and internal
 * representations (VK_KHR_pipeline_executable_properties).
 *
 * Nothing is recorded or dispatched. libvulkan is NOT linked at build time:
 * it is dlopen()ed and every entry point comes from vkGetInstanceProcAddr /
 * vkGetDeviceProcAddr.
 *
 *   vkstats [--device SUBSTR] [--bindings u,s,s,s|auto] [--entry NAME]
 *           [--ir DIR] [--no-robust] [--subgroup-size N] [--list] shader.spv
 *
 * Device/pipeline setup follows Dawn's Vulkan backend where it affects code
 * generation: robustBufferAccess (+ VK_EXT_robustness2 robustBufferAccess2 when
 * available), ALLOW_VARYING_SUBGROUP_SIZE when subgroupSizeControl is there.
 */
#define _POSIX_C_SOURCE 200809L
#define VK_NO_PROTOTYPES 1
#include <vulkan/vulkan.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* ---- definitions missing from older Vulkan headers (e.g. 1.3.239) ---- */
#ifndef VK_KHR_shader_maximal_reconvergence
#define VK_KHR_shader_maximal_reconvergence 1
#define VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_MAXIMAL_RECONVERGENCE_FEATURES_KHR \
  ((VkStructureType)1000434000)
typedef struct VkPhysicalDeviceShaderMaximalReconvergenceFeaturesKHR {
  VkStructureType sType;
  void *pNext;
  VkBool32 shaderMaximalReconvergence;
} VkPhysicalDeviceShaderMaximalReconvergenceFeaturesKHR;
#endif
#ifndef VK_KHR_cooperative_matrix
#define VK_KHR_cooperative_matrix 1
#define VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR \
  ((VkStructureType)1000506000)
typedef struct VkPhysicalDeviceCooperativeMatrixFeaturesKHR {
  VkStructureType sType;
  void *pNext;
  VkBool32 cooperativeMatrix;
  VkBool32 cooperativeMatrixRobustBufferAccess;
} VkPhysicalDeviceCooperativeMatrixFeaturesKHR;
#endif

#define EXT_PEP "VK_KHR_pipeline_executable_properties"
#define EXT_MAXRECONV "VK_KHR_shader_maximal_reconvergence"
#define EXT_SUCF "VK_KHR_shader_subgroup_uniform_control_flow"
#define EXT_COOPMAT "VK_KHR_cooperative_matrix"
#define EXT_ROBUST2 "VK_EXT_robustness2"

/* ---- function pointers ---- */
static void *g_lib;
static PFN_vkGetInstanceProcAddr pGetInstanceProcAddr;
static PFN_vkEnumerateInstanceVersion pEnumerateInstanceVersion;
static PFN_vkCreateInstance pCreateInstance;
static PFN_vkDestroyInstance pDestroyInstance;
static PFN_vkEnumeratePhysicalDevices pEnumeratePhysicalDevices;
static PFN_vkGetPhysicalDeviceProperties pGetPhysicalDeviceProperties;
static PFN_vkGetPhysicalDeviceProperties2 pGetPhysicalDeviceProperties2;
static PFN_vkGetPhysicalDeviceFeatures2 pGetPhysicalDeviceFeatures2;
static PFN_vkGetPhysicalDeviceQueueFamilyProperties pGetPhysicalDeviceQueueFamilyProperties;
static PFN_vkEnumerateDeviceExtensionProperties pEnumerateDeviceExtensionProperties;
static PFN_vkCreateDevice pCreateDevice;
static PFN_vkGetDeviceProcAddr pGetDeviceProcAddr;
static PFN_vkDestroyDevice pDestroyDevice;
static PFN_vkCreateShaderModule pCreateShaderModule;
static PFN_vkDestroyShaderModule pDestroyShaderModule;
static PFN_vkCreateDescriptorSetLayout pCreateDescriptorSetLayout;
static PFN_vkDestroyDescriptorSetLayout pDestroyDescriptorSetLayout;
static PFN_vkCreatePipelineLayout pCreatePipelineLayout;
static PFN_vkDestroyPipelineLayout pDestroyPipelineLayout;
static PFN_vkCreateComputePipelines pCreateComputePipelines;
static PFN_vkDestroyPipeline pDestroyPipeline;
static PFN_vkGetPipelineExecutablePropertiesKHR pGetPipelineExecutablePropertiesKHR;
static PFN_vkGetPipelineExecutableStatisticsKHR pGetPipelineExecutableStatisticsKHR;
static PFN_vkGetPipelineExecutableInternalRepresentationsKHR
    pGetPipelineExecutableInternalRepresentationsKHR;

/* ---- objects (global so cleanup() can destroy whatever exists) ---- */
static VkInstance g_inst = VK_NULL_HANDLE;
static VkDevice g_dev = VK_NULL_HANDLE;
static VkShaderModule g_mod = VK_NULL_HANDLE;
static VkDescriptorSetLayout g_dsl = VK_NULL_HANDLE;
static VkPipelineLayout g_pl = VK_NULL_HANDLE;
static VkPipeline g_pipe = VK_NULL_HANDLE;

static void cleanup(void) {
  if (g_dev) {
    if (g_pipe) pDestroyPipeline(g_dev, g_pipe, NULL);
    if (g_pl) pDestroyPipelineLayout(g_dev, g_pl, NULL);
    if (g_dsl) pDestroyDescriptorSetLayout(g_dev, g_dsl, NULL);
    if (g_mod) pDestroyShaderModule(g_dev, g_mod, NULL);
    pDestroyDevice(g_dev, NULL);
  }
  if (g_inst) pDestroyInstance(g_inst, NULL);
  g_pipe = VK_NULL_HANDLE;
  g_pl = VK_NULL_HANDLE;
  g_dsl = VK_NULL_HANDLE;
  g_mod = VK_NULL_HANDLE;
  g_dev = VK_NULL_HANDLE;
  g_inst = VK_NULL_HANDLE;
  if (g_lib) dlclose(g_lib);
  g_lib = NULL;
}

static void die(const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "vkstats: error: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n");
  cleanup();
  exit(1);
}

static const char *vkres(VkResult r) {
  switch ((int)r) {
#define C(x) case x: return #x;
    C(VK_SUCCESS) C(VK_NOT_READY) C(VK_TIMEOUT) C(VK_INCOMPLETE)
    C(VK_ERROR_OUT_OF_HOST_MEMORY) C(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    C(VK_ERROR_INITIALIZATION_FAILED) C(VK_ERROR_DEVICE_LOST)
    C(VK_ERROR_MEMORY_MAP_FAILED) C(VK_ERROR_LAYER_NOT_PRESENT)
    C(VK_ERROR_EXTENSION_NOT_PRESENT) C(VK_ERROR_FEATURE_NOT_PRESENT)
    C(VK_ERROR_INCOMPATIBLE_DRIVER) C(VK_ERROR_TOO_MANY_OBJECTS)
    C(VK_ERROR_FORMAT_NOT_SUPPORTED) C(VK_ERROR_FRAGMENTED_POOL)
    C(VK_ERROR_UNKNOWN) C(VK_ERROR_OUT_OF_POOL_MEMORY)
    C(VK_ERROR_INVALID_EXTERNAL_HANDLE) C(VK_ERROR_FRAGMENTATION)
    C(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS) C(VK_PIPELINE_COMPILE_REQUIRED)
    C(VK_ERROR_INVALID_SHADER_NV)
#undef C
    default: return "VK_RESULT_?";
  }
}

#define VKCHECK(call)                                                        \
  do {                                                                       \
    VkResult r_ = (call);                                                    \
    if (r_ != VK_SUCCESS)                                                    \
      die("%s failed: %s (%d)", #call, vkres(r_), (int)r_);                  \
  } while (0)

/* incomplete is fine for the count-only calls, anything negative is not */
#define VKCHECK_OK_INCOMPLETE(call)                                          \
  do {                                                                       \
    VkResult r_ = (call);                                                    \
    if (r_ != VK_SUCCESS && r_ != VK_INCOMPLETE)                             \
      die("%s failed: %s (%d)", #call, vkres(r_), (int)r_);                  \
  } while (0)

static void *xcalloc(size_t n, size_t sz) {
  void *p = calloc(n ? n : 1, sz ? sz : 1);
  if (!p) die("out of memory");
  return p;
}

static PFN_vkVoidFunction iproc(VkInstance inst, const char *name, int required) {
  PFN_vkVoidFunction f = pGetInstanceProcAddr(inst, name);
  if (!f && required) die("vkGetInstanceProcAddr(\"%s\") returned NULL", name);
  return f;
}
static PFN_vkVoidFunction dproc(const char *name, int required) {
  PFN_vkVoidFunction f = pGetDeviceProcAddr(g_dev, name);
  if (!f && required) die("vkGetDeviceProcAddr(\"%s\") returned NULL", name);
  return f;
}

/* case-insensitive substring search (no GNU strcasestr) */
static int contains_ci(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  if (n == 0) return 1;
  for (; *hay; hay++) {
    size_t i = 0;
    while (i < n && hay[i]) {
      char a = hay[i], b = needle[i];
      if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
      if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
      if (a != b) break;
      i++;
    }
    if (i == n) return 1;
  }
  return 0;
}

static const char *devtype(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated-gpu";
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete-gpu";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual-gpu";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
  }
}

static void fmt_driver_version(const VkPhysicalDeviceProperties *p, char *buf, size_t n) {
  uint32_t v = p->driverVersion;
  if (p->vendorID == 0x10DE) /* NVIDIA: 10.8.8.6 bits */
    snprintf(buf, n, "%u.%u.%u.%u", (v >> 22) & 0x3ff, (v >> 14) & 0xff, (v >> 6) & 0xff, v & 0x3f);
  else
    snprintf(buf, n, "%u.%u.%u", VK_API_VERSION_MAJOR(v), VK_API_VERSION_MINOR(v),
             VK_API_VERSION_PATCH(v));
}

/* ---- SPIR-V helpers ---- */
static uint32_t *read_spv(const char *path, size_t *nwords) {
  FILE *f = fopen(path, "rb");
  if (!f) die("cannot open %s: %s", path, strerror(errno));
  if (fseek(f, 0, SEEK_END) != 0) die("cannot seek %s", path);
  long sz = ftell(f);
  if (sz < 20 || (sz % 4) != 0) {
    fclose(f);
    die("%s: size %ld is not a SPIR-V binary (needs >= 20 bytes, multiple of 4)", path, sz);
  }
  rewind(f);
  uint32_t *w = xcalloc((size_t)sz / 4, 4);
  if (fread(w, 1, (size_t)sz, f) != (size_t)sz) {
    fclose(f);
    die("short read on %s", path);
  }
  fclose(f);
  if (w[0] != 0x07230203u)
    die("%s: bad SPIR-V magic 0x%08x (is it .spvasm text? assemble it with spirv-as)", path, w[0]);
  *nwords = (size_t)sz / 4;
  return w;
}

#define MAXB 64
typedef struct {
  int n_entry;
  char entries[16][128];
  int nbind;               /* highest set-0 binding + 1 */
  char btype[MAXB];        /* 'u', 's', '?' or 0 (unused) */
} SpvInfo;

/* Scans OpEntryPoint names and set-0 buffer bindings (u/s) of a module. */
static void spv_scan(const uint32_t *w, size_t nw, SpvInfo *out) {
  memset(out, 0, sizeof *out);
  uint32_t bound = w[3];
  if (bound > (1u << 24)) return;
  int *set = xcalloc(bound, sizeof(int));
  int *binding = xcalloc(bound, sizeof(int));
  unsigned char *block = xcalloc(bound, 1); /* 1 Block, 2 BufferBlock */
  uint32_t *ptr_sc = xcalloc(bound, 4), *ptr_pointee = xcalloc(bound, 4);
  uint32_t *var_type = xcalloc(bound, 4), *var_sc = xcalloc(bound, 4);
  unsigned char *is_var = xcalloc(bound, 1);
  uint32_t *arr_elem = xcalloc(bound, 4);
  for (uint32_t i = 0; i < bound; i++) set[i] = binding[i] = -1;

  size_t i = 5;
  while (i < nw) {
    uint32_t op = w[i] & 0xffff, wc = w[i] >> 16;
    if (wc == 0 || i + wc > nw) break;
    const uint32_t *a = w + i + 1;
    switch (op) {
      case 15: /* OpEntryPoint model id name... */
        if (wc >= 4 && out->n_entry < 16) {
          size_t maxc = (wc - 3) * 4;
          if (maxc > 127) maxc = 127;
          memcpy(out->entries[out->n_entry], a + 2, maxc);
          out->entries[out->n_entry][maxc] = 0;
          out->n_entry++;
        }
        break;
      case 71: /* OpDecorate target deco [lit] */
        if (wc >= 3 && a[0] < bound) {
          if (a[1] == 34 && wc >= 4) set[a[0]] = (int)a[2];
          if (a[1] == 33 && wc >= 4) binding[a[0]] = (int)a[2];
          if (a[1] == 2) block[a[0]] = 1;
          if (a[1] == 3) block[a[0]] = 2;
        }
        break;
      case 32: /* OpTypePointer result sc type */
        if (wc >= 4 && a[0] < bound) { ptr_sc[a[0]] = a[1]; ptr_pointee[a[0]] = a[2]; }
        break;
      case 28: /* OpTypeArray result elem len */
      case 29: /* OpTypeRuntimeArray result elem */
        if (wc >= 3 && a[0] < bound) arr_elem[a[0]] = a[1];
        break;
      case 59: /* OpVariable type result sc */
        if (wc >= 4 && a[1] < bound) { is_var[a[1]] = 1; var_type[a[1]] = a[0]; var_sc[a[1]] = a[2]; }
        break;
      default: break;
    }
    i += wc;
  }
  for (uint32_t id = 0; id < bound; id++) {
    if (!is_var[id] || set[id] != 0 || binding[id] < 0 || binding[id] >= MAXB) continue;
    uint32_t pt = var_type[id] < bound ? ptr_pointee[var_type[id]] : 0;
    while (pt && pt < bound && arr_elem[pt]) pt = arr_elem[pt];
    char t = '?';
    if (var_sc[id] == 12) t = 's';                                  /* StorageBuffer */
    else if (var_sc[id] == 2) t = (pt < bound && block[pt] == 2) ? 's' : 'u'; /* Uniform */
    out->btype[binding[id]] = t;
    if (binding[id] + 1 > out->nbind) out->nbind = binding[id] + 1;
  }
  free(set); free(binding); free(block); free(ptr_sc); free(ptr_pointee);
  free(var_type); free(var_sc); free(is_var); free(arr_elem);
}

static int has_ext(const VkExtensionProperties *e, uint32_t n, const char *name) {
  for (uint32_t i = 0; i < n; i++)
    if (strcmp(e[i].extensionName, name) == 0) return 1;
  return 0;
}

static void sanitise(const char *in, char *out, size_t n) {
  size_t j = 0;
  for (size_t i = 0; in[i] && j + 1 < n; i++) {
    char c = in[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_' || c == '.';
    out[j++] = ok ? c : '_';
  }
  if (j == 0 && n > 1) out[j++] = 'x';
  out[j] = 0;
}

static void trim(char *s) {
  size_t n = strlen(s);
  while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
    s[--n] = 0;
}

static void stages_str(VkShaderStageFlags f, char *buf, size_t n) {
  buf[0] = 0;
  struct { VkShaderStageFlags b; const char *s; } t[] = {
    {VK_SHADER_STAGE_VERTEX_BIT, "VERTEX"}, {VK_SHADER_STAGE_FRAGMENT_BIT, "FRAGMENT"},
    {VK_SHADER_STAGE_COMPUTE_BIT, "COMPUTE"}, {VK_SHADER_STAGE_GEOMETRY_BIT, "GEOMETRY"},
    {VK_SHADER_STAGE_TESSELLATION_CONTROL_BIT, "TESS_CTRL"},
    {VK_SHADER_STAGE_TESSELLATION_EVALUATION_BIT, "TESS_EVAL"}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    if (f & t[i].b) {
      if (buf[0]) strncat(buf, "|", n - strlen(buf) - 1);
      strncat(buf, t[i].s, n - strlen(buf) - 1);
      f &= ~t[i].b;
    }
  }
  if (f) {
    char x[32];
    snprintf(x, sizeof x, "%s0x%x", buf[0] ? "|" : "", (unsigned)f);
    strncat(buf, x, n - strlen(buf) - 1);
  }
  if (!buf[0]) snprintf(buf, n, "none");
}


/* Links the feature structs into a pNext chain (NULL ones left out; the 1.1/1.2 and 1.3 structs only
 * where the device's API version has them) and returns its head. */
static void *feature_chain(uint32_t dapi, void *pep, void *mr, void *sucf, void *cm, void *r2, void *f11,
                           void *f12, void *f13) {
  void *list[] = {pep, mr, sucf, cm, r2, dapi >= VK_API_VERSION_1_2 ? f11 : NULL,
                  dapi >= VK_API_VERSION_1_2 ? f12 : NULL, dapi >= VK_API_VERSION_1_3 ? f13 : NULL};
  VkBaseOutStructure *chain = NULL;
  for (size_t k = 0; k < sizeof list / sizeof list[0]; k++) {
    if (!list[k]) continue;
    VkBaseOutStructure *s = list[k];
    s->pNext = chain;
    chain = s;
  }
  return chain;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: vkstats [--device SUBSTR] [--bindings u,s,s,s|auto] [--entry NAME]\n"
          "               [--ir DIR] [--no-robust] [--subgroup-size N] [--list] shader.spv\n"
          "  --device SUBSTR  first physical device whose name contains SUBSTR (case-insensitive);\n"
          "                   default: first non-CPU device, else the first device\n"
          "  --bindings LIST  descriptor set 0: binding i is u=UNIFORM_BUFFER or s=STORAGE_BUFFER\n"
          "                   (U/S = the *_DYNAMIC variants; default u,s,s,s; 'auto' derives\n"
          "                   u/s from the module's decorations)\n"
          "  --entry NAME     entry point (default dawn_entry_point)\n"
          "  --ir DIR         write every internal representation to DIR/<exec>-<idx>-<name>.txt|.bin\n"
          "                   (default: print text IRs, first 200 lines each)\n"
          "  --no-robust      do not enable robustBufferAccess / VK_EXT_robustness2 (Dawn enables both)\n"
          "  --subgroup-size N  require subgroup size N (+ full subgroups), as Dawn does for\n"
          "                   explicit subgroup sizes; default: allow varying subgroup size\n"
          "  --list           list physical devices and exit\n");
}

int main(int argc, char **argv) {
  const char *dev_sub = NULL, *bindings = NULL, *entry = "dawn_entry_point", *irdir = NULL;
  const char *spv_path = NULL;
  int no_robust = 0, list_only = 0;
  unsigned sg_size = 0;

  setvbuf(stdout, NULL, _IOLBF, 0);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
#define NEEDARG() do { if (i + 1 >= argc) { usage(stderr); die("%s needs an argument", a); } } while (0)
    if (!strcmp(a, "--device")) { NEEDARG(); dev_sub = argv[++i]; }
    else if (!strcmp(a, "--bindings")) { NEEDARG(); bindings = argv[++i]; }
    else if (!strcmp(a, "--entry")) { NEEDARG(); entry = argv[++i]; }
    else if (!strcmp(a, "--ir")) { NEEDARG(); irdir = argv[++i]; }
    else if (!strcmp(a, "--no-robust")) no_robust = 1;
    else if (!strcmp(a, "--subgroup-size")) {
      NEEDARG();
      char *endp = NULL;
      unsigned long v = strtoul(argv[++i], &endp, 10);
      if (!endp || *endp || v == 0 || (v & (v - 1)) || v > 128) die("bad --subgroup-size %s", argv[i]);
      sg_size = (unsigned)v;
    }
    else if (!strcmp(a, "--list")) list_only = 1;
    else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
    else if (a[0] == '-' && a[1]) { usage(stderr); die("unknown option %s", a); }
    else if (!spv_path) spv_path = a;
    else { usage(stderr); die("more than one shader given"); }
#undef NEEDARG
  }
  if (!spv_path && !list_only) { usage(stderr); die("no shader.spv given"); }

  /* ---- SPIR-V + descriptor layout ---- */
  size_t nwords = 0;
  uint32_t *code = NULL;
  SpvInfo si;
  memset(&si, 0, sizeof si);
  char btypes[MAXB];
  int nb = 0;
  if (!list_only) {
    code = read_spv(spv_path, &nwords);
    spv_scan(code, nwords, &si);
    int found = 0;
    for (int i = 0; i < si.n_entry; i++) found |= !strcmp(si.entries[i], entry);
    if (!found) {
      fprintf(stderr, "vkstats: entry points in %s:", spv_path);
      for (int i = 0; i < si.n_entry; i++) fprintf(stderr, " \"%s\"", si.entries[i]);
      fprintf(stderr, "\n");
      die("entry point \"%s\" not found in module (use --entry)", entry);
    }
    char detected[2 * MAXB + 1] = "";
    for (int b = 0; b < si.nbind; b++) {
      char t = si.btype[b] ? si.btype[b] : '-';
      size_t l = strlen(detected);
      if (b) detected[l++] = ',';
      detected[l++] = t;
      detected[l] = 0;
    }
    int use_auto = bindings && !strcmp(bindings, "auto");
    const char *bl = use_auto ? detected : (bindings ? bindings : "u,s,s,s");
    if (use_auto) {
      for (int b = 0; b < si.nbind; b++)
        if (si.btype[b] != 'u' && si.btype[b] != 's')
          die("--bindings auto: set 0 binding %d is not a uniform/storage buffer (got '%c'); give --bindings explicitly",
              b, si.btype[b] ? si.btype[b] : '-');
    }
    for (const char *p = bl; *p; p++) {
      if (*p == ',' || *p == ' ') continue;
      if (!strchr("usUS", *p) || nb >= MAXB) die("bad --bindings \"%s\" (want e.g. u,s,s,s)", bl);
      btypes[nb++] = *p;
    }
    if (nb == 0) die("empty binding list");
    /* warn about mismatches: a missing binding is invalid usage and may crash drivers */
    int mismatch = si.nbind > nb;
    for (int b = 0; b < si.nbind && b < nb; b++)
      if (si.btype[b] && si.btype[b] != (btypes[b] | 0x20)) mismatch = 1; /* tolower */
    printf("shader: %s (%zu words), entry \"%s\", set 0 bindings in module: %s\n", spv_path, nwords,
           entry, si.nbind ? detected : "(none)");
    printf("layout: set 0 =");
    for (int b = 0; b < nb; b++) printf("%s%c", b ? "," : " ", btypes[b]);
    printf("\n");
    if (mismatch)
      fprintf(stderr,
              "vkstats: WARNING: --bindings does not match the module's set-0 buffers (module: %s);"
              " try --bindings %s\n", detected, detected);
  }

  /* ---- loader ---- */
  const char *libs[] = {"libvulkan.so.1", "libvulkan.so"};
  for (size_t i = 0; i < 2 && !g_lib; i++) g_lib = dlopen(libs[i], RTLD_NOW | RTLD_LOCAL);
  if (!g_lib) {
    const char *e = dlerror();
    die("dlopen(\"libvulkan.so.1\") failed: %s (set LD_LIBRARY_PATH to the Vulkan loader's directory)",
        e ? e : "?");
  }
  pGetInstanceProcAddr = (PFN_vkGetInstanceProcAddr)dlsym(g_lib, "vkGetInstanceProcAddr");
  if (!pGetInstanceProcAddr) die("dlsym(vkGetInstanceProcAddr) failed");
  pCreateInstance = (PFN_vkCreateInstance)iproc(NULL, "vkCreateInstance", 1);
  pEnumerateInstanceVersion = (PFN_vkEnumerateInstanceVersion)iproc(NULL, "vkEnumerateInstanceVersion", 0);
  uint32_t iver = VK_API_VERSION_1_0;
  if (pEnumerateInstanceVersion) VKCHECK(pEnumerateInstanceVersion(&iver));
  printf("loader: instance version %u.%u.%u\n", VK_API_VERSION_MAJOR(iver), VK_API_VERSION_MINOR(iver),
         VK_API_VERSION_PATCH(iver));
  if (iver < VK_API_VERSION_1_1) die("Vulkan loader is 1.0; need >= 1.1");

  VkApplicationInfo app = {VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "vkstats";
  app.apiVersion = VK_API_VERSION_1_3;
  VkInstanceCreateInfo ici = {VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ici.pApplicationInfo = &app;
  VKCHECK(pCreateInstance(&ici, NULL, &g_inst));

#define IP(var, name) var = (void *)iproc(g_inst, name, 1)
  IP(pDestroyInstance, "vkDestroyInstance");
  IP(pEnumeratePhysicalDevices, "vkEnumeratePhysicalDevices");
  IP(pGetPhysicalDeviceProperties, "vkGetPhysicalDeviceProperties");
  IP(pGetPhysicalDeviceProperties2, "vkGetPhysicalDeviceProperties2");
  IP(pGetPhysicalDeviceFeatures2, "vkGetPhysicalDeviceFeatures2");
  IP(pGetPhysicalDeviceQueueFamilyProperties, "vkGetPhysicalDeviceQueueFamilyProperties");
  IP(pEnumerateDeviceExtensionProperties, "vkEnumerateDeviceExtensionProperties");
  IP(pCreateDevice, "vkCreateDevice");
  IP(pGetDeviceProcAddr, "vkGetDeviceProcAddr");
#undef IP

  /* ---- physical device ---- */
  uint32_t npd = 0;
  VKCHECK_OK_INCOMPLETE(pEnumeratePhysicalDevices(g_inst, &npd, NULL));
  if (npd == 0) die("no Vulkan physical devices found (check VK_ICD_FILENAMES / driver install)");
  VkPhysicalDevice *pds = xcalloc(npd, sizeof *pds);
  VKCHECK_OK_INCOMPLETE(pEnumeratePhysicalDevices(g_inst, &npd, pds));
  int pick = -1;
  for (uint32_t i = 0; i < npd; i++) {
    VkPhysicalDeviceProperties p;
    pGetPhysicalDeviceProperties(pds[i], &p);
    if (list_only) {
      char dv[64];
      fmt_driver_version(&p, dv, sizeof dv);
      printf("  [%u] %s (%s, vendor 0x%04x, device 0x%04x, api %u.%u.%u, driver %s)\n", i, p.deviceName,
             devtype(p.deviceType), p.vendorID, p.deviceID, VK_API_VERSION_MAJOR(p.apiVersion),
             VK_API_VERSION_MINOR(p.apiVersion), VK_API_VERSION_PATCH(p.apiVersion), dv);
    }
    if (pick >= 0) continue;
    if (dev_sub) { if (contains_ci(p.deviceName, dev_sub)) pick = (int)i; }
    else if (p.deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU) pick = (int)i;
  }
  if (list_only) { free(pds); cleanup(); return 0; }
  if (pick < 0) {
    if (dev_sub) {
      fprintf(stderr, "vkstats: devices:\n");
      for (uint32_t i = 0; i < npd; i++) {
        VkPhysicalDeviceProperties p;
        pGetPhysicalDeviceProperties(pds[i], &p);
        fprintf(stderr, "  [%u] %s\n", i, p.deviceName);
      }
      die("no physical device name contains \"%s\"", dev_sub);
    }
    pick = 0;
  }
  VkPhysicalDevice pd = pds[pick];
  free(pds);

  VkPhysicalDeviceProperties props;
  pGetPhysicalDeviceProperties(pd, &props);
  uint32_t dapi = props.apiVersion;
  VkPhysicalDeviceDriverProperties drvp = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  VkPhysicalDeviceSubgroupProperties sgp = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  sgp.pNext = &drvp;
  VkPhysicalDeviceSubgroupSizeControlProperties sgsc = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
  if (dapi >= VK_API_VERSION_1_3) drvp.pNext = &sgsc;
  VkPhysicalDeviceProperties2 props2 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  props2.pNext = &sgp;
  pGetPhysicalDeviceProperties2(pd, &props2);
  char dv[64];
  fmt_driver_version(&props, dv, sizeof dv);
  printf("device: [%d] %s (%s, vendor 0x%04x, device 0x%04x)\n", pick, props.deviceName,
         devtype(props.deviceType), props.vendorID, props.deviceID);
  printf("driver: %s %s | driverVersion %s (raw 0x%08x) | device api %u.%u.%u | subgroupSize %u"
         " (min %u, max %u)\n",
         drvp.driverName, drvp.driverInfo, dv, props.driverVersion, VK_API_VERSION_MAJOR(dapi),
         VK_API_VERSION_MINOR(dapi), VK_API_VERSION_PATCH(dapi), sgp.subgroupSize,
         sgsc.minSubgroupSize, sgsc.maxSubgroupSize);
  if (dapi < VK_API_VERSION_1_2)
    fprintf(stderr, "vkstats: WARNING: device API < 1.2; the Tint SPIR-V (Vulkan memory model) probably won't load\n");

  /* ---- extensions ---- */
  uint32_t next = 0;
  VKCHECK_OK_INCOMPLETE(pEnumerateDeviceExtensionProperties(pd, NULL, &next, NULL));
  VkExtensionProperties *exts = xcalloc(next, sizeof *exts);
  VKCHECK_OK_INCOMPLETE(pEnumerateDeviceExtensionProperties(pd, NULL, &next, exts));
  if (!has_ext(exts, next, EXT_PEP))
    die("device \"%s\" does not support %s (needed for statistics / IR)", props.deviceName, EXT_PEP);
  int has_mr = has_ext(exts, next, EXT_MAXRECONV);
  int has_sucf = has_ext(exts, next, EXT_SUCF);
  int has_cm = has_ext(exts, next, EXT_COOPMAT);
  int has_r2 = !no_robust && has_ext(exts, next, EXT_ROBUST2);
  free(exts);

  /* ---- features: query, then pass back what is supported ---- */
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR f_pep = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR};
  VkPhysicalDeviceShaderMaximalReconvergenceFeaturesKHR f_mr = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_MAXIMAL_RECONVERGENCE_FEATURES_KHR};
  VkPhysicalDeviceShaderSubgroupUniformControlFlowFeaturesKHR f_sucf = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SUBGROUP_UNIFORM_CONTROL_FLOW_FEATURES_KHR};
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR f_cm = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR};
  VkPhysicalDeviceRobustness2FeaturesEXT f_r2 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ROBUSTNESS_2_FEATURES_EXT};
  VkPhysicalDeviceVulkan11Features f11 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features f12 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceVulkan13Features f13 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  VkPhysicalDeviceFeatures2 f2 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};

  f2.pNext = feature_chain(dapi, &f_pep, has_mr ? &f_mr : NULL, has_sucf ? &f_sucf : NULL, has_cm ? &f_cm : NULL,
                           has_r2 ? &f_r2 : NULL, &f11, &f12, &f13);
  pGetPhysicalDeviceFeatures2(pd, &f2);
  if (!f_pep.pipelineExecutableInfo)
    die("device reports pipelineExecutableInfo = VK_FALSE (%s present but feature unsupported)", EXT_PEP);
  if (no_robust) {
    f2.features.robustBufferAccess = VK_FALSE;
    f13.robustImageAccess = VK_FALSE;
  }

  const char *en[8];
  uint32_t nen = 0;
  en[nen++] = EXT_PEP;
  if (has_mr && f_mr.shaderMaximalReconvergence) en[nen++] = EXT_MAXRECONV;
  else if (has_mr) has_mr = 0;
  if (has_sucf && f_sucf.shaderSubgroupUniformControlFlow) en[nen++] = EXT_SUCF;
  else if (has_sucf) has_sucf = 0;
  if (has_cm && f_cm.cooperativeMatrix) en[nen++] = EXT_COOPMAT;
  else if (has_cm) has_cm = 0;
  if (has_r2 && f_r2.robustBufferAccess2 && f2.features.robustBufferAccess) en[nen++] = EXT_ROBUST2;
  else if (has_r2) has_r2 = 0;
  /* rebuild the chain with only the structs for extensions we enable */
  f2.pNext = feature_chain(dapi, &f_pep, has_mr ? &f_mr : NULL, has_sucf ? &f_sucf : NULL, has_cm ? &f_cm : NULL,
                           has_r2 ? &f_r2 : NULL, &f11, &f12, &f13);
  printf("extensions:");
  for (uint32_t i = 0; i < nen; i++) printf(" %s", en[i]);
  printf("\nfeatures: robustBufferAccess=%u shaderFloat16=%u shaderInt8=%u vulkanMemoryModel=%u "
         "vulkanMemoryModelDeviceScope=%u subgroupSizeControl=%u computeFullSubgroups=%u "
         "maximalReconvergence=%u cooperativeMatrix=%u robustBufferAccess2=%u\n",
         f2.features.robustBufferAccess, f12.shaderFloat16, f12.shaderInt8, f12.vulkanMemoryModel,
         f12.vulkanMemoryModelDeviceScope, f13.subgroupSizeControl, f13.computeFullSubgroups,
         has_mr ? f_mr.shaderMaximalReconvergence : 0, has_cm ? f_cm.cooperativeMatrix : 0,
         has_r2 ? f_r2.robustBufferAccess2 : 0);

  /* ---- queue family with compute ---- */
  uint32_t nqf = 0;
  pGetPhysicalDeviceQueueFamilyProperties(pd, &nqf, NULL);
  VkQueueFamilyProperties *qfs = xcalloc(nqf, sizeof *qfs);
  pGetPhysicalDeviceQueueFamilyProperties(pd, &nqf, qfs);
  int qf = -1;
  for (uint32_t i = 0; i < nqf && qf < 0; i++)
    if (qfs[i].queueFlags & VK_QUEUE_COMPUTE_BIT) qf = (int)i;
  free(qfs);
  if (qf < 0) die("no queue family with VK_QUEUE_COMPUTE_BIT");

  float prio = 1.0f;
  VkDeviceQueueCreateInfo qci = {VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = (uint32_t)qf;
  qci.queueCount = 1;
  qci.pQueuePriorities = &prio;
  VkDeviceCreateInfo dci = {VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  dci.pNext = &f2; /* pEnabledFeatures must stay NULL when Features2 is chained */
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  dci.enabledExtensionCount = nen;
  dci.ppEnabledExtensionNames = en;
  VKCHECK(pCreateDevice(pd, &dci, NULL, &g_dev));

#define DP(var, name) var = (void *)dproc(name, 1)
  DP(pDestroyDevice, "vkDestroyDevice");
  DP(pCreateShaderModule, "vkCreateShaderModule");
  DP(pDestroyShaderModule, "vkDestroyShaderModule");
  DP(pCreateDescriptorSetLayout, "vkCreateDescriptorSetLayout");
  DP(pDestroyDescriptorSetLayout, "vkDestroyDescriptorSetLayout");
  DP(pCreatePipelineLayout, "vkCreatePipelineLayout");
  DP(pDestroyPipelineLayout, "vkDestroyPipelineLayout");
  DP(pCreateComputePipelines, "vkCreateComputePipelines");
  DP(pDestroyPipeline, "vkDestroyPipeline");
  DP(pGetPipelineExecutablePropertiesKHR, "vkGetPipelineExecutablePropertiesKHR");
  DP(pGetPipelineExecutableStatisticsKHR, "vkGetPipelineExecutableStatisticsKHR");
  DP(pGetPipelineExecutableInternalRepresentationsKHR, "vkGetPipelineExecutableInternalRepresentationsKHR");
#undef DP

  /* ---- shader module, layouts, pipeline ---- */
  VkShaderModuleCreateInfo smci = {VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  smci.codeSize = nwords * 4;
  smci.pCode = code;
  VKCHECK(pCreateShaderModule(g_dev, &smci, NULL, &g_mod));

  VkDescriptorSetLayoutBinding dslb[MAXB];
  memset(dslb, 0, sizeof dslb);
  for (int b = 0; b < nb; b++) {
    dslb[b].binding = (uint32_t)b;
    dslb[b].descriptorType = btypes[b] == 'u'   ? VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER
                             : btypes[b] == 's' ? VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
                             : btypes[b] == 'U' ? VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER_DYNAMIC
                                                : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER_DYNAMIC;
    dslb[b].descriptorCount = 1;
    dslb[b].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  }
  VkDescriptorSetLayoutCreateInfo dslci = {VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  dslci.bindingCount = (uint32_t)nb;
  dslci.pBindings = dslb;
  VKCHECK(pCreateDescriptorSetLayout(g_dev, &dslci, NULL, &g_dsl));

  VkPipelineLayoutCreateInfo plci = {VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  plci.setLayoutCount = 1;
  plci.pSetLayouts = &g_dsl;
  VKCHECK(pCreatePipelineLayout(g_dev, &plci, NULL, &g_pl));

  VkComputePipelineCreateInfo cpci = {VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  cpci.flags = VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR |
               VK_PIPELINE_CREATE_CAPTURE_INTERNAL_REPRESENTATIONS_BIT_KHR;
  cpci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  cpci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  cpci.stage.module = g_mod;
  cpci.stage.pName = entry;
  VkPipelineShaderStageRequiredSubgroupSizeCreateInfo rss = {
      VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO};
  if (sg_size) {
    if (dapi < VK_API_VERSION_1_3 || !f13.subgroupSizeControl)
      die("--subgroup-size needs the subgroupSizeControl feature (Vulkan 1.3)");
    if (sg_size < sgsc.minSubgroupSize || sg_size > sgsc.maxSubgroupSize)
      die("--subgroup-size %u outside the device's range [%u, %u]", sg_size, sgsc.minSubgroupSize,
          sgsc.maxSubgroupSize);
    rss.requiredSubgroupSize = sg_size;
    cpci.stage.pNext = &rss;
    if (f13.computeFullSubgroups) cpci.stage.flags |= VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT;
  } else if (dapi >= VK_API_VERSION_1_3 && f13.subgroupSizeControl) {
    cpci.stage.flags |= VK_PIPELINE_SHADER_STAGE_CREATE_ALLOW_VARYING_SUBGROUP_SIZE_BIT; /* as Dawn */
  }
  printf("pipeline: flags 0x%x, stage flags 0x%x%s\n", (unsigned)cpci.flags, (unsigned)cpci.stage.flags,
         sg_size ? " (required subgroup size set)" : "");
  cpci.layout = g_pl;
  cpci.basePipelineIndex = -1;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  VKCHECK(pCreateComputePipelines(g_dev, VK_NULL_HANDLE, 1, &cpci, NULL, &g_pipe));
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("pipeline: created in %.1f ms\n",
         (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);

  /* ---- executables ---- */
  VkPipelineInfoKHR pinfo = {VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR};
  pinfo.pipeline = g_pipe;
  uint32_t nexe = 0;
  VKCHECK_OK_INCOMPLETE(pGetPipelineExecutablePropertiesKHR(g_dev, &pinfo, &nexe, NULL));
  VkPipelineExecutablePropertiesKHR *ep = xcalloc(nexe, sizeof *ep);
  for (uint32_t i = 0; i < nexe; i++) ep[i].sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR;
  VKCHECK_OK_INCOMPLETE(pGetPipelineExecutablePropertiesKHR(g_dev, &pinfo, &nexe, ep));
  printf("executables: %u\n", nexe);
  if (irdir && mkdir(irdir, 0777) != 0 && errno != EEXIST)
    die("cannot create --ir directory %s: %s", irdir, strerror(errno));

  for (uint32_t e = 0; e < nexe; e++) {
    char st[128];
    stages_str(ep[e].stages, st, sizeof st);
    trim(ep[e].name);
    trim(ep[e].description);
    printf("\n=== executable %u: %s [stages %s, subgroupSize %u]\n    %s\n", e, ep[e].name, st,
           ep[e].subgroupSize, ep[e].description);

    VkPipelineExecutableInfoKHR xi = {VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR};
    xi.pipeline = g_pipe;
    xi.executableIndex = e;

    uint32_t nst = 0;
    VKCHECK_OK_INCOMPLETE(pGetPipelineExecutableStatisticsKHR(g_dev, &xi, &nst, NULL));
    VkPipelineExecutableStatisticKHR *sts = xcalloc(nst, sizeof *sts);
    for (uint32_t i = 0; i < nst; i++) sts[i].sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR;
    VKCHECK_OK_INCOMPLETE(pGetPipelineExecutableStatisticsKHR(g_dev, &xi, &nst, sts));
    printf("--- statistics (%u)\n", nst);
    for (uint32_t i = 0; i < nst; i++) {
      trim(sts[i].name);
      trim(sts[i].description);
      printf("  %s = ", sts[i].name);
      switch (sts[i].format) {
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR:
          printf("%s", sts[i].value.b32 ? "true" : "false"); break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR:
          printf("%lld", (long long)sts[i].value.i64); break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR:
          printf("%llu", (unsigned long long)sts[i].value.u64); break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR:
          printf("%g", sts[i].value.f64); break;
        default:
          printf("<format %d, raw 0x%llx>", (int)sts[i].format, (unsigned long long)sts[i].value.u64);
      }
      printf(" (%s)\n", sts[i].description);
    }
    free(sts);

    /* internal representations: count, then sizes (pData NULL), then data */
    uint32_t nir = 0;
    VKCHECK_OK_INCOMPLETE(pGetPipelineExecutableInternalRepresentationsKHR(g_dev, &xi, &nir, NULL));
    VkPipelineExecutableInternalRepresentationKHR *irs = xcalloc(nir, sizeof *irs);
    for (uint32_t i = 0; i < nir; i++)
      irs[i].sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INTERNAL_REPRESENTATION_KHR;
    VKCHECK_OK_INCOMPLETE(pGetPipelineExecutableInternalRepresentationsKHR(g_dev, &xi, &nir, irs));
    for (uint32_t i = 0; i < nir; i++) {
      irs[i].pData = xcalloc(irs[i].dataSize + 1, 1);
    }
    {
      VkResult r = pGetPipelineExecutableInternalRepresentationsKHR(g_dev, &xi, &nir, irs);
      if (r == VK_INCOMPLETE)
        fprintf(stderr, "vkstats: WARNING: vkGetPipelineExecutableInternalRepresentationsKHR returned "
                        "VK_INCOMPLETE (some IR truncated)\n");
      else if (r != VK_SUCCESS)
        die("vkGetPipelineExecutableInternalRepresentationsKHR (data) failed: %s (%d)", vkres(r), (int)r);
    }
    printf("--- internal representations (%u)\n", nir);
    for (uint32_t i = 0; i < nir; i++) {
      trim(irs[i].name);
      trim(irs[i].description);
      printf("  [%u] %s: %s (isText %u, dataSize %zu)\n", i, irs[i].name, irs[i].description,
             irs[i].isText, irs[i].dataSize);
    }
    for (uint32_t i = 0; i < nir; i++) {
      const char *data = irs[i].pData;
      size_t len = irs[i].dataSize;
      if (irs[i].isText) {
        ((char *)irs[i].pData)[len] = 0;
        len = strlen(data); /* text IRs are NUL-terminated; drop the NUL */
      }
      if (irdir) {
        char nm[128], path[4096];
        sanitise(irs[i].name, nm, sizeof nm);
        snprintf(path, sizeof path, "%s/%u-%u-%s.%s", irdir, e, i, nm, irs[i].isText ? "txt" : "bin");
        FILE *f = fopen(path, "wb");
        if (!f) die("cannot write %s: %s", path, strerror(errno));
        if (len && fwrite(data, 1, len, f) != len) { fclose(f); die("short write on %s", path); }
        if (fclose(f) != 0) die("cannot close %s", path);
        printf("  wrote %s (%zu bytes)\n", path, len);
      } else if (irs[i].isText) {
        printf("\n----- IR [%u] %s (first 200 lines) -----\n", i, irs[i].name);
        int lines = 0;
        const char *p = data, *end = data + len;
        while (p < end && lines < 200) {
          const char *nl = memchr(p, '\n', (size_t)(end - p));
          size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
          fwrite(p, 1, l, stdout);
          fputc('\n', stdout);
          lines++;
          p = nl ? nl + 1 : end;
        }
        if (p < end) {
          int rest = 0;
          for (const char *q = p; q < end; q++) rest += (*q == '\n');
          printf("... (%d more lines; use --ir DIR for the full text)\n", rest + (end[-1] != '\n'));
        }
      }
    }
    for (uint32_t i = 0; i < nir; i++) free(irs[i].pData);
    free(irs);
  }
  free(ep);
  free(code);
  cleanup();
  return 0;
}
