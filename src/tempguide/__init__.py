"""tempguide: the library behind "Temperature and Guidance in Generative Models".

Modules, one concept each (the book section that defines each is in its docstring):

- ``tempguide.config``      device, quick/full profile, seeds
- ``tempguide.data``        MNIST (offline subset or torchvision) and the text corpus
- ``tempguide.toy``         exact Gaussian mixtures: samples, densities, exact scores
- ``tempguide.lm``          temperature, top-k/top-p/min-p, generation (chapter 1)
- ``tempguide.diffusion``   samplers, schedules, temperature (chapter 2)
- ``tempguide.guidance``    classifier guidance, classifier-free guidance and its refinements as wrappers (chapters 3, 4)
- ``tempguide.flow``        flow matching: the straight path, velocities, Euler/Heun in τ, CFG on velocities (chapter 4)
- ``tempguide.attributes``  attributes measured on a digit (ink); ``tempguide.captions`` captions and their judges (chapter 6)
- ``tempguide.mvae``        the Markovian VAE: three generation modes, the exact instance, the LM and the image pyramid (chapter 5)
- ``tempguide.cascade`` (SR3 and the cascade), ``tempguide.clip``, ``tempguide.glide``, ``tempguide.unclip``  chapter 6's systems
- ``tempguide.models``      small networks; ``tempguide.train`` trains them
- ``tempguide.pretrained``  shipped checkpoints, sha256-verified
- ``tempguide.metrics``     fidelity, diversity, FID, sharpness, text metrics
- ``tempguide.homework``    student versions and the grader; ``tempguide.checks`` instant feedback (``checks.lm``, ``checks.diffusion``, ``checks.guidance``, ``checks.refinements``, ``checks.mvae``)
"""
__version__ = "0.1.0"
