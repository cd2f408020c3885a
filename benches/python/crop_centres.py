"""How far a deep-crop centre on a predicted mask lies from the one on the reference mask.

The SAP deep classifier is fine-tuned on crops centred on the reference masks' bounding boxes
and scores crops centred on the predicted masks. This prints, over the cases of a run, the
distance (mm) between the reference box centre and three candidate centres on the predicted
mask: the whole mask's box, the largest 26-connected component's box (what
`crop_around_mask` uses) and the centroid. Reference masks come from `tomofuse cohort export`
of the same config, profile and seed; both folders hold `<case>.nii.gz` on the same grid.

    tomofuse run experiments/sap-multimodal.toml --out runs/sap
    tomofuse cohort export --config experiments/sap-multimodal.toml --out runs/sap-cohort
    python3 benches/python/crop_centres.py runs/sap/masks runs/sap-cohort/masks
"""
import nibabel as nib, numpy as np, glob, os, sys
from scipy import ndimage
pred_dir, ref_dir = sys.argv[1], sys.argv[2]
res={k:[] for k in ['whole','largest','centroid']}
ncomp=[]
for f in sorted(glob.glob(pred_dir+'/*.nii.gz')):
    cid=os.path.basename(f)
    rf=os.path.join(ref_dir,cid)
    if not os.path.exists(rf): continue
    p=np.asarray(nib.load(f).dataobj)>0; r=np.asarray(nib.load(rf).dataobj)>0
    sp=np.array(nib.load(rf).header.get_zooms()[:3])
    if p.shape!=r.shape or not p.any(): continue
    def bbc(m):
        idx=np.argwhere(m); return (idx.min(0)+idx.max(0))/2
    ref=bbc(r)
    lab,n=ndimage.label(p,structure=np.ones((3,3,3))); ncomp.append(n)
    sizes=ndimage.sum(p,lab,range(1,n+1))
    big=lab==(np.argmax(sizes)+1)
    res['whole'].append(np.linalg.norm((bbc(p)-ref)*sp))
    res['largest'].append(np.linalg.norm((bbc(big)-ref)*sp))
    res['centroid'].append(np.linalg.norm((np.argwhere(p).mean(0)-np.argwhere(r).mean(0))*sp))
print('cases',len(ncomp),'multi-component',sum(n>1 for n in ncomp))
for k,v in res.items(): v=np.array(v); print(k,'mean mm %.1f median %.1f p90 %.1f max %.1f'%(v.mean(),np.median(v),np.percentile(v,90),v.max()))
