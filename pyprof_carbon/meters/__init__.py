"""Energy meters: one module per kind of counter (meters/base.py: what each provides), and the
registry the command line offers and `auto` chooses from (select.py). This file imports nothing:
`run` reads the names before the program starts."""

# name -> (module, class); `auto` tries the CPU meters in this order, then NVML, then the model.
METERS = {"rapl-perf": ("perf_pmu", "RaplPerf"), "rapl-msr": ("msr", "RaplMsr"),
          "rapl-powercap": ("powercap", "RaplPowercap"), "nvml": ("nvml", "Nvml"), "model": ("model", "ModelMeter")}
CPU_ORDER = ("rapl-perf", "rapl-msr", "rapl-powercap")
GPU_ORDER = ("nvml",)
